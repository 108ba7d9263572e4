"""The tasks a worker runs: `crawlfleet.crawl` and the example `crawlfleet.sleep`."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery.exceptions import Ignore
from kombu.exceptions import OperationalError

from crawlfleet_core.celery_app import CRAWL_TASK, SLEEP_TASK
from crawlfleet_core.model.failures import CrawlCrashedError, CrawlFailedError, CrawlTimedOutError, SpiderFailedError
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.states import JobState
from crawlfleet_core.model.status import DEFAULT_TENANT, Progress
from crawlfleet_core.store.connections import OUTAGE_ERRORS
from crawlfleet_core.store.logs import bounded_line
from crawlfleet_workers.app import app
from crawlfleet_workers.bookkeeping import egg_cache, job_logs, job_store
from crawlfleet_workers.config import worker_settings
from crawlfleet_workers.eggs import EggMissingError, ProjectCode
from crawlfleet_workers.feeds import check_feeds
from crawlfleet_workers.supervisor import run_crawl

RETRY_BACKOFF_SECONDS = 2
# Scrapy's finish reason for a crawl closed by its CLOSESPIDER_TIMEOUT.
TIME_LIMIT_REASON = "closespider_timeout"

log = logging.getLogger(__name__)
# What a progress report meets while Redis fails over: the job store's and the result
# backend's errors, and kombu's for the task event, which goes through the broker.
REPORT_OUTAGE_ERRORS: tuple[type[Exception], ...] = (*OUTAGE_ERRORS, OperationalError)


@app.task(name=CRAWL_TASK, bind=True)
def crawl(self: Task[Any, Any], spec_json: dict[str, Any], job_id: str | None = None, shard: int = 0) -> dict[str, Any]:
    """Run the job's crawl, or one `shard` of it; the return value of the first shard,
    the job's own task (whose id is the job's), is the job's result."""
    job_id = job_id or str(self.request.id)
    spec = JobSpec.model_validate(spec_json)
    store = job_store()
    record = store.get(job_id)
    if record is not None and record.revoked_at is not None:
        # Cancelled while queued, possibly before this worker existed to hear the revoke.
        self.update_state(state=JobState.REVOKED)
        raise Ignore()

    def report(progress: Progress) -> None:
        try:
            store.set_progress(job_id, progress)
            self.update_state(state=JobState.PROGRESS, meta=progress.model_dump())
            # The result backend is not what Flower watches: a task event of this name
            # shows the crawl as PROGRESS there too, with the counts as the event's fields.
            self.send_event("task-progress", **progress.model_dump())
        except REPORT_OUTAGE_ERRORS as error:
            # The next report comes within a second; a Redis outage (a failover) must not end the crawl.
            log.warning("cannot report the progress of job %s: %s", job_id, error)

    try:
        project = project_code(spec, record.tenant if record is not None else DEFAULT_TENANT)
    except EggMissingError as error:
        job_logs().append(job_id, [f"the job cannot run: {error}"])
        raise SpiderFailedError(str(error)) from None
    settings = worker_settings()
    check_feeds(spec, settings)
    outcome = run_crawl(job_id, spec, settings, report, project, shard)
    if outcome.failure is not None:
        raise SpiderFailedError(bounded_line(outcome.failure))
    if outcome.stats is None:
        if outcome.timed_out:
            raise CrawlTimedOutError(f"the crawl outlived its time limit and was stopped ({outcome.exit_description})")
        reason = outcome.error or f"the crawl process {outcome.exit_description}"
        job_logs().append(job_id, [f"the crawl process {outcome.exit_description}; the job is retried: {reason}"])
        raise self.retry(
            exc=CrawlCrashedError(reason),
            countdown=RETRY_BACKOFF_SECONDS * 2**self.request.retries,
            max_retries=spec.retries,
        )
    stats = outcome.stats
    if stats["spider_error"]:
        raise SpiderFailedError(bounded_line(stats["spider_error"]))
    if stats["pages"] == 0:
        raise CrawlFailedError(no_page_reason(stats, spec.time_limit(settings.soft_time_limit_seconds)))
    return stats


def project_code(spec: JobSpec, tenant: str) -> ProjectCode | None:
    """The code of the project whose spider the job runs, None for the built-in spider.

    A deployed version (the submission pinned one) is fetched into the worker's egg
    cache here, in the pool process, so that the crawl process only reads it from disk."""
    if spec.project is None:
        return None
    if spec.version is not None:
        return egg_cache().code(tenant, spec.project, spec.version)
    settings = worker_settings()
    if settings.installed_project() != spec.project:
        raise EggMissingError(
            f"project {spec.project!r} is not installed in the workers of queue {spec.queue!r}"
            + (f" (they have {settings.installed_project()!r})" if settings.installed_project() else "")
        )
    return ProjectCode(settings.project_settings_module)


def no_page_reason(stats: dict[str, Any], time_limit: int) -> str:
    """Why a crawl that ran fetched no page, in words that say what to change."""
    if stats["finish_reason"] == TIME_LIMIT_REASON:
        return (
            f"time limit of {time_limit} s reached before any page was fetched: no page answered in time"
            " (raise timeLimitSeconds for a slow site)"
        )
    return str(
        stats["first_error"]
        or f"no page was fetched: {stats['first_skip'] or 'nothing to crawl'}"
        " (robots.txt and allowedDomains can exclude start URLs)"
    )


@app.task(name=SLEEP_TASK, bind=True)
def sleep(self: Task[Any, Any], seconds: int = 10) -> dict[str, Any]:
    """The example task: sleeps, reporting PROGRESS each second, to watch states without a network."""
    for elapsed in range(seconds):
        self.update_state(
            state=JobState.PROGRESS,
            meta={"elapsed": elapsed, "seconds": seconds, "percent": round(100 * elapsed / seconds, 1)},
        )
        time.sleep(1)
    return {"slept": seconds}
