"""Sites of a test's own, for crawls whose requests a test counts or holds, and a
platform of a test's own for the fault tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.website import HeldWebsite, Website
from tests.harness.worker_loss import Fleet


@pytest.fixture
def own_website() -> Iterator[Website]:
    """A site for one test: no straggling crawl of an earlier test adds to its requests."""
    site = Website()
    yield site
    site.stop()


@pytest.fixture
def held_website() -> Iterator[HeldWebsite]:
    """A site of its own whose crawls fetch `/slow/0` and `/slow/1`, then wait for `release()`."""
    site = HeldWebsite(held_from=2)
    yield site
    site.stop()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """A Redis, a job service and workers of the test's own, with the shipped defaults."""
    fleet = Fleet(tmp_path)
    yield fleet
    fleet.stop()
