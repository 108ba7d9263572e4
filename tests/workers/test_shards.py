"""A job of N shards: N crawl processes on the workers, sharing one frontier, one page
budget, one item stream and one progress; it ends when the crawl is over across all of
them, never while one still holds a page, and cancelling it stops them all."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from celery.result import AsyncResult

from crawlfleet_core.model.frontier import shard_task_id
from crawlfleet_core.model.states import JobState
from crawlfleet_core.service import JobService
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import CursorReader, Watch, spec
from tests.harness.ports import wait_until
from tests.harness.website import HeldTree, Website

QUEUE = "shards"
PAGES = 300
QUIET_WINDOW_SECONDS = 2


@pytest.fixture
def tree() -> Iterator[Website]:
    site = Website(size=PAGES)
    yield site
    site.stop()


@pytest.fixture
def two_slots(worker_factory: type[CeleryWorker]) -> CeleryWorker:
    return worker_factory(queues=QUEUE, concurrency=2)


def shard_results(service: JobService, job_id: str, shards: int) -> list[dict[str, object]]:
    results = [AsyncResult(shard_task_id(job_id, shard), app=service.app) for shard in range(shards)]
    wait_until(lambda: all(result.ready() for result in results), 30, "every shard to end")
    return [result.get(timeout=1) for result in results]


def page_fetches(site: Website) -> list[str]:
    return [path for path in site.paths_requested() if path.startswith("/page/")]


def test_two_shards_crawl_one_site_together_each_page_once_each_item_once(
    job_service: JobService, two_slots: CeleryWorker, tree: Website
) -> None:
    job = spec(startUrls=[tree.url("/page/0")], maxPages=1000, maxDepth=100, shards=2, queue=QUEUE)
    watch = Watch(job_service, job_service.submit(job))
    final = watch.finished(120)
    assert final.state is JobState.SUCCESS, final.error
    assert final.result is not None and (final.result["pages"], final.result["items"]) == (PAGES, PAGES)
    assert (final.progress.pages, final.progress.items) == (PAGES, PAGES)
    reader = CursorReader(job_service, watch.job_id)
    reader.read()
    assert sorted(reader.urls) == sorted(tree.url(f"/page/{n}") for n in range(PAGES))

    fetches = page_fetches(tree)
    assert len(fetches) == len(set(fetches)) == PAGES, "a page was fetched by both shards"
    fetched_by = [result["response_received_count"] for result in shard_results(job_service, watch.job_id, 2)]
    assert all(fetched_by), f"a shard fetched nothing: {fetched_by}"


def test_the_page_budget_is_exact_across_shards(
    job_service: JobService, two_slots: CeleryWorker, tree: Website
) -> None:
    job = spec(startUrls=[tree.url("/page/0")], maxPages=77, maxDepth=100, shards=2, queue=QUEUE)
    final = Watch(job_service, job_service.submit(job)).finished(120)
    assert final.state is JobState.SUCCESS, final.error
    assert final.result is not None and final.result["finish_reason"] == "closespider_pagecount"
    assert (final.progress.pages, final.progress.items) == (77, 77)
    fetches = page_fetches(tree)
    assert len(fetches) == len(set(fetches)) == 77


class OneHeldPage(HeldTree):
    """A tree whose page 2 answers only after `release()`; half the site lies behind it."""

    def holds(self, index: int) -> bool:
        return index == 2


def test_a_shard_run_dry_waits_while_another_holds_a_page_whose_links_are_to_come(
    job_service: JobService, two_slots: CeleryWorker
) -> None:
    """One shard holds page 2 while the other crawls everything on page 1's side and
    runs dry. Neither ends; once page 2 answers, its half of the site is crawled too."""
    site = OneHeldPage(size=63, held_from=2)
    try:
        job = spec(startUrls=[site.url("/page/0")], maxPages=1000, maxDepth=100, shards=2, queue=QUEUE)
        watch = Watch(job_service, job_service.submit(job))
        left_side = {f"/page/{n}" for n in range(1, 63) if bin(n + 1)[3] == "0"}
        wait_until(lambda: left_side <= set(site.paths_requested()), 60, "page 1's side of the site to be crawled")
        assert site.waiting == 1
        # A shard that ended early would do so within a tick of running dry.
        time.sleep(QUIET_WINDOW_SECONDS)
        results = [AsyncResult(shard_task_id(watch.job_id, shard), app=job_service.app) for shard in range(2)]
        assert not any(result.ready() for result in results), [result.state for result in results]
        site.release()
        final = watch.finished(60)
        assert final.state is JobState.SUCCESS, final.error
        assert (final.progress.pages, final.progress.items) == (63, 63)
        assert sorted(set(page_fetches(site))) == sorted(f"/page/{n}" for n in range(63))
    finally:
        site.stop()


def test_cancelling_a_sharded_job_stops_every_shard_and_the_shards_share_its_concurrency(
    job_service: JobService, two_slots: CeleryWorker
) -> None:
    """Concurrency 2 over 2 shards: each shard holds one page, and the site never sees
    more than the job's 2 at once, though 4 pages wait to be fetched."""
    site = HeldTree(size=63, held_from=3)
    try:
        job = spec(startUrls=[site.url("/page/0")], maxDepth=100, concurrency=2, shards=2, queue=QUEUE)
        watch = Watch(job_service, job_service.submit(job))
        watch.until(lambda s: s.progress.items == 3, 60, "the pages before the held ones")
        wait_until(lambda: site.waiting >= 2, 30, "both shards to hold a page")
        # Shards allowed more would take the other held pages within a tick or two.
        time.sleep(QUIET_WINDOW_SECONDS)
        assert site.most_waiting == 2
        assert len(two_slots.crawl_processes()) == 2
        job_service.cancel(watch.job_id)
        wait_until(lambda: not two_slots.crawl_processes(), 30, "every shard's crawl to stop")
        assert watch.finished(30).state is JobState.REVOKED
    finally:
        site.stop()
