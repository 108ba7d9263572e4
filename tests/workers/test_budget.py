"""The page budget: `maxPages` pages exactly, or every reachable page when there are
fewer, however many links repeat, redirect, fail or lead nowhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crawlfleet_core.model.states import JobState
from crawlfleet_core.model.status import JobStatus
from crawlfleet_core.service import JobService
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import Watch, spec
from tests.harness.plain_scrapy import plain_scrapy_pages
from tests.harness.website import TangledWebsite

DEPTH = 3


@pytest.fixture
def tangled_website() -> Iterator[TangledWebsite]:
    site = TangledWebsite()
    yield site
    site.stop()


def crawl(job_service: JobService, site: TangledWebsite, max_pages: int) -> tuple[JobStatus, list[str]]:
    """The finished job of a crawl of `site` with `max_pages`, and the pages the site served it."""
    before = len(site.requests)
    watch = Watch(
        job_service, job_service.submit(spec(startUrls=[site.url("/doc/0")], maxDepth=DEPTH, maxPages=max_pages))
    )
    final = watch.finished(120)
    assert final.state is JobState.SUCCESS, final.error
    served = [path for _, path in site.requests[before:] if path.startswith(("/doc/", "/leaf/"))]
    return final, served


@pytest.mark.parametrize("max_pages", [1, 7, 20, 45])
def test_a_budget_smaller_than_the_site_fetches_exactly_that_many_pages(
    job_service: JobService, celery_worker: CeleryWorker, tangled_website: TangledWebsite, max_pages: int
) -> None:
    assert max_pages < tangled_website.reachable(DEPTH)
    final, served = crawl(job_service, tangled_website, max_pages)
    assert final.result is not None
    assert final.result["pages"] == max_pages
    assert final.result["item_scraped_count"] == final.result["items"] == max_pages
    assert final.progress.pages == max_pages and final.progress.percent == 100.0
    # The site answered no page more than the budget, and none twice.
    assert len(served) == len(set(served)) == max_pages
    items = job_service.store.read_items(final.id, None, 1000).items
    assert len({item["url"] for item in items}) == max_pages
    assert final.result["finish_reason"] == "closespider_pagecount"


def test_a_budget_larger_than_the_site_fetches_what_plain_scrapy_fetches(
    job_service: JobService, celery_worker: CeleryWorker, tangled_website: TangledWebsite, tmp_path: Path
) -> None:
    # Scrapy's default start requests skip its duplicate filter, so plain Scrapy fetches
    # the start page a second time when a page links back to it: pages are counted once.
    plain = {
        url.removeprefix(tangled_website.base)
        for url in plain_scrapy_pages(tangled_website.url("/doc/0"), DEPTH, tmp_path)
    }
    assert len(plain) == tangled_website.reachable(DEPTH)
    for max_pages in (len(plain), len(plain) + 1, 1000):
        final, served = crawl(job_service, tangled_website, max_pages)
        assert final.result is not None
        assert final.result["pages"] == len(plain), max_pages
        assert sorted(served) == sorted(plain), max_pages
    assert final.result["finish_reason"] == "finished"
