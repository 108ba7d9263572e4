"""A worker killed outright (an OOM kill, a lost node) loses no job and delays its
jobs by seconds, not by the broker's visibility timeout; a live worker's task is
never taken from it. Against a Redis and workers of the test's own, with the shipped
defaults: time limits, visibility timeout and restore settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crawlfleet_core.model.states import JobState
from tests.harness.platform import queued_task_ids
from tests.harness.ports import wait_until
from tests.harness.worker_loss import Fleet, HeldChains, WorkerLoss

JOBS = 10
PAGES = 20
REDELIVERY_BOUND_SECONDS = 30


@pytest.fixture
def site() -> Iterator[HeldChains]:
    site = HeldChains(held_from=2)
    yield site
    site.stop()


def test_the_jobs_of_a_killed_worker_are_redelivered_within_30_s_and_all_finish(fleet: Fleet, site: HeldChains) -> None:
    """10 jobs on 2 workers, one worker's whole process group SIGKILLed mid-crawl: 10/10
    finish, the killed worker's are back in their queue within 30 s and read as RETRY
    meanwhile, the other worker's are never taken from it, and a client reading items
    by cursor gets each item once."""
    loss = WorkerLoss.start(fleet, site, JOBS, PAGES)
    loss.kill_mid_crawl()
    assert len(loss.held) == JOBS // 2

    wait_until(loss.all_redelivered, REDELIVERY_BOUND_SECONDS, "the killed worker's jobs to go back to their queue")
    assert loss.violations == []
    assert loss.seen_lost == loss.held, "a job of the dead worker read as running until it was redelivered"
    # The live worker's tasks were as old as the dead one's at the sweep that restored those.
    queued = queued_task_ids(fleet.redis.client(0), "default")
    assert not queued - loss.held, "a task of the live worker was put back in its queue"
    site.release()

    wait_until(loss.all_finished, 120, "every job to finish", interval=0.2)
    for reader in loss.readers:
        final = fleet.service.status(reader.job_id)
        assert final is not None and final.state is JobState.SUCCESS, final
        assert final.progress.pages == PAGES
        assert final.progress.items == PAGES
    figures = loss.figures()
    assert figures.duplicated_items == 0, [reader.urls for reader in loss.readers if reader.duplicates]
    assert [len(reader.urls) for reader in loss.readers] == [PAGES] * JOBS
    assert figures.live_jobs_run_twice == 0
    assert (figures.finished, figures.lost) == (JOBS, 0)
