"""A crawl whose worker is killed resumes from the job's frontier when its task is
redelivered: the pages fetched before are not fetched again, the requests in flight at
the kill are, and every item is stored once. Against a Redis and workers of the test's
own, with the shipped defaults (the heartbeat restore brings the task back)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crawlfleet_core.model.states import JobState
from tests.harness.jobs import CursorReader, Watch, spec
from tests.harness.ports import wait_until
from tests.harness.website import HeldTree
from tests.harness.worker_loss import SURVIVOR, VICTIM, Fleet

PAGES = 500
HELD_FROM = 250
CONCURRENCY = 8
REFETCH_BOUND = 0.05


@pytest.fixture
def tree() -> Iterator[HeldTree]:
    site = HeldTree(size=PAGES, held_from=HELD_FROM)
    yield site
    site.stop()


def test_a_crawl_killed_mid_way_resumes_refetching_at_most_5_percent_and_stores_each_item_once(
    fleet: Fleet, tree: HeldTree
) -> None:
    """500 pages; the worker's whole process group SIGKILLed with half the site fetched
    (give or take the few pages a stall leaves behind) and 8 requests in flight. The
    task comes back to another worker, whose crawl fetches the rest: no page is served
    more than twice, at most 5 % of the pages are served a second time, and the job
    has exactly 500 pages and 500 items, each read once by a client following the
    items by cursor."""
    victim = fleet.start_worker(VICTIM, concurrency=1)
    service = fleet.service
    job = spec(startUrls=[tree.url("/page/0")], maxPages=1000, maxDepth=100, concurrency=CONCURRENCY)
    watch = Watch(service, service.submit(job))
    reader = CursorReader(service, watch.job_id)
    wait_until(lambda: tree.waiting == CONCURRENCY, 60, "the crawl to stall on the held half of the site")
    # Responses parsed out of order can queue a held page before a page of the first
    # half, so the stall may leave a few of those unfetched: wait for the items of
    # every page the site answered, which no longer changes once the crawl stalls.
    answered = len({path for path in tree.page_fetches() if int(path.removeprefix("/page/")) < HELD_FROM})
    watch.until(lambda s: s.progress.items == answered, 30, "the items of every page answered")
    reader.read()
    victim.kill()
    tree.release()

    fleet.start_worker(SURVIVOR, concurrency=1)
    final = watch.finished(120)
    assert final.state is JobState.SUCCESS, final.error
    record = service.record(watch.job_id)
    assert record is not None and record.worker == SURVIVOR, "the job was not redelivered"
    reader.read()
    assert sorted(reader.urls) == sorted(tree.url(f"/page/{n}") for n in range(PAGES))
    assert (final.progress.pages, final.progress.items) == (PAGES, PAGES)

    fetches = tree.page_fetches()
    assert set(fetches) == {f"/page/{n}" for n in range(PAGES)}
    assert max(fetches.values()) <= 2
    refetched = sum(count - 1 for count in fetches.values())
    assert refetched >= CONCURRENCY, "the requests in flight at the kill were not fetched again"
    assert refetched <= REFETCH_BOUND * PAGES, sorted(path for path, count in fetches.items() if count > 1)
