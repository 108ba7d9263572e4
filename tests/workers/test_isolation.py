"""A revoke, a crash or a killed worker ends one crawl, and loses no job."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import psutil
from celery.result import AsyncResult

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.states import JobState
from crawlfleet_core.service import JobService
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import Watch, spec
from tests.harness.ports import wait_until
from tests.harness.website import Website


def slow_job(website: Website, queue: str, pages: int = 1000, **fields: Any) -> JobSpec:
    return spec(startUrls=[website.url("/slow/0")], maxDepth=100, maxPages=pages, concurrency=1, queue=queue, **fields)


def gone(process: psutil.Process) -> bool:
    """Whether the process has ended; one nobody reaps lingers as a zombie."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_revoking_a_running_crawl_stops_it_and_the_worker_goes_on(
    job_service: JobService, worker_factory: type[CeleryWorker], own_website: Website
) -> None:
    worker = worker_factory(queues="revoke", concurrency=1)
    watch = Watch(job_service, job_service.submit(slow_job(own_website, "revoke")))
    watch.until(lambda s: s.state is JobState.PROGRESS and s.progress.pages >= 1, 30, "PROGRESS")
    assert len(worker.crawl_processes()) == 1

    cancelled = job_service.cancel(watch.job_id)
    assert cancelled is not None and cancelled.state is JobState.REVOKED
    wait_until(lambda: not worker.crawl_processes(), 15, "the crawl process to end")
    final = watch.until(lambda s: s.state is JobState.REVOKED and s.finished_at is not None, 15, "REVOKED")
    assert final.error == "cancelled"
    requests_after = len(own_website.requests)
    time.sleep(1.5)
    assert len(own_website.requests) == requests_after, "the revoked crawl still fetches pages"

    after = Watch(job_service, job_service.submit(spec(startUrls=[own_website.url("/page/0")], queue="revoke")))
    assert after.finished(30).state is JobState.SUCCESS


def test_a_crashed_crawl_is_retried_with_backoff_and_finishes(
    job_service: JobService, worker_factory: type[CeleryWorker], website: Website
) -> None:
    worker = worker_factory(queues="crash", concurrency=1)
    watch = Watch(job_service, job_service.submit(slow_job(website, "crash", pages=4)))
    watch.until(lambda s: s.state is JobState.PROGRESS, 30, "PROGRESS")
    (crawl,) = worker.crawl_processes()
    crawl.send_signal(signal.SIGKILL)

    retrying = watch.until(lambda s: s.state is JobState.RETRY, 15, "RETRY")
    assert retrying.error is not None and "SIGKILL" in retrying.error
    final = watch.finished(60)
    assert final.state is JobState.SUCCESS, final.error
    assert final.progress.pages == 4
    items = job_service.store.read_items(watch.job_id, None, 100).items
    assert len(items) == 4, "items of the crashed attempt were kept twice"
    assert worker.process.poll() is None


def test_a_worker_killed_mid_crawl_loses_no_job(
    job_service: JobService, worker_factory: type[CeleryWorker], website: Website
) -> None:
    """acks_late: the task stays unacknowledged in Redis and is redelivered."""
    first = worker_factory(queues="redelivery", concurrency=1)
    watch = Watch(job_service, job_service.submit(slow_job(website, "redelivery", pages=4)))
    watch.until(lambda s: s.state is JobState.PROGRESS, 30, "PROGRESS")
    first.kill()
    assert first.process.returncode == -signal.SIGKILL

    # The next worker restores tasks left unacknowledged past the visibility timeout.
    worker_factory(
        queues="redelivery",
        concurrency=1,
        extra_env={
            "CRAWLFLEET_SOFT_TIME_LIMIT_SECONDS": "2",
            "CRAWLFLEET_HARD_TIME_LIMIT_SECONDS": "3",
            "CRAWLFLEET_VISIBILITY_TIMEOUT_SECONDS": "4",
        },
    )
    final = watch.finished(90)
    assert final.state is JobState.SUCCESS, final.error
    assert final.progress.pages == 4
    items = job_service.store.read_items(watch.job_id, None, 100).items
    assert len(items) == 4


def test_warm_shutdown_finishes_the_running_crawl(
    job_service: JobService, worker_factory: type[CeleryWorker], website: Website
) -> None:
    """SIGTERM (a pod being stopped) lets the running crawl finish before the worker exits."""
    worker = worker_factory(queues="warm", concurrency=1)
    watch = Watch(job_service, job_service.submit(slow_job(website, "warm", pages=4)))
    watch.until(lambda s: s.state is JobState.PROGRESS, 30, "PROGRESS")
    os.kill(worker.process.pid, signal.SIGTERM)
    final = watch.finished(30)
    assert final.state is JobState.SUCCESS, final.error
    assert final.progress.pages == 4
    assert worker.process.wait(30) == 0


def test_a_crawl_that_keeps_crashing_fails_once_its_retries_are_spent(
    job_service: JobService, worker_factory: type[CeleryWorker], website: Website
) -> None:
    worker = worker_factory(queues="exhausted", concurrency=1)
    watch = Watch(job_service, job_service.submit(slow_job(website, "exhausted", retries=1)))
    watch.until(lambda s: s.state is JobState.PROGRESS, 30, "PROGRESS")
    (crawl,) = worker.crawl_processes()
    crawl.send_signal(signal.SIGKILL)
    watch.until(lambda s: s.state is JobState.RETRY, 15, "RETRY")
    (retried,) = wait_until(worker.crawl_processes, 30, "the retried crawl")
    retried.send_signal(signal.SIGKILL)
    final = watch.finished(30)
    assert final.state is JobState.FAILURE
    assert final.error is not None and "CrawlCrashedError" in final.error and "SIGKILL" in final.error
    assert watch.states.count(JobState.RETRY) == 1


def test_a_job_cancelled_while_queued_is_skipped_by_a_worker_started_later(
    job_service: JobService, worker_factory: type[CeleryWorker], own_website: Website
) -> None:
    """No worker consumes the queue when the revoke is broadcast; the one started after never heard it."""
    job_id = job_service.submit(spec(startUrls=[own_website.url("/page/0")], queue="latecomer"))
    cancelled = job_service.cancel(job_id)
    assert cancelled is not None and cancelled.state is JobState.REVOKED
    worker_factory(queues="latecomer", concurrency=1)
    backend = AsyncResult(job_id, app=job_service.app)
    wait_until(lambda: backend.state == JobState.REVOKED, 30, "the worker to record the job as REVOKED")
    record = job_service.record(job_id)
    assert record is not None and record.received_at is not None, "no worker took the job"
    assert own_website.requests == [], "the cancelled job crawled"
    final = job_service.status(job_id)
    assert final is not None and final.state is JobState.REVOKED and final.error == "cancelled"


def test_a_crawl_dies_with_its_pool_process(
    job_service: JobService, worker_factory: type[CeleryWorker], website: Website
) -> None:
    """PR_SET_PDEATHSIG: a pool process killed outright cannot leave its crawl running."""
    worker = worker_factory(queues="orphaned", concurrency=1)
    watch = Watch(job_service, job_service.submit(slow_job(website, "orphaned")))
    watch.until(lambda s: s.state is JobState.PROGRESS, 30, "PROGRESS")
    (crawl,) = worker.crawl_processes()
    pool_process = psutil.Process(crawl.ppid())
    pool_process.send_signal(signal.SIGKILL)
    wait_until(lambda: gone(crawl), 15, "the crawl of the killed pool process to end")
    assert worker.process.poll() is None
    # The job is redelivered to the worker's new pool process; it is not needed here.
    job_service.cancel(watch.job_id)
