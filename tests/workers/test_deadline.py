"""A crawl's time limit holds even when its downloads hang."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crawlfleet_core.model.states import JobState
from crawlfleet_core.service import JobService
from crawlfleet_workers.deadline import GRACE_SECONDS, download_timeout
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import Watch, spec
from tests.harness.website import HeldWebsite


@pytest.fixture
def hanging_website() -> Iterator[HeldWebsite]:
    """A site whose `/slow/<i>` pages are never answered while a test runs."""
    site = HeldWebsite(held_from=0)
    yield site
    site.stop()


def test_a_download_gets_its_own_timeout_cut_to_end_by_the_deadline() -> None:
    assert download_timeout(30.0, deadline=100.0, now=97.0) == 3.0 + GRACE_SECONDS
    assert download_timeout(2.0, deadline=100.0, now=90.0) == 2.0
    assert download_timeout(30.0, deadline=100.0, now=100.0 + GRACE_SECONDS) is None


def test_a_time_limit_reached_before_any_page_answered_ends_the_job_and_says_so(
    job_service: JobService, celery_worker: CeleryWorker, hanging_website: HeldWebsite
) -> None:
    """Without a deadline the crawl would wait for the download's own 30-second timeout,
    then claim there had been nothing to crawl."""
    watch = Watch(job_service, job_service.submit(spec(startUrls=[hanging_website.url("/slow/0")], timeLimitSeconds=2)))
    final = watch.finished(60)
    assert final.state is JobState.FAILURE
    assert final.error is not None
    assert "time limit of 2 s reached before any page was fetched" in final.error
    assert hanging_website.paths_requested() == ["/robots.txt", "/slow/0"]
