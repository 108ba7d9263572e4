"""Sites of a test's own, for crawls whose requests a test counts or holds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.website import HeldWebsite, Website


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
