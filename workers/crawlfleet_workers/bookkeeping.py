"""Stamp job records from Celery's worker signals.

RECEIVED exists only as a worker event in Celery, never in the result backend,
so the worker writes it into the job record where the API can read it."""

from __future__ import annotations

from functools import cache
from typing import Any

from celery import signals
from celery.worker.request import Request

from crawlfleet_core.model.states import FINISHED_STATES
from crawlfleet_core.settings import Settings
from crawlfleet_core.store.connections import outage_retry
from crawlfleet_core.store.jobs import JobStore
from crawlfleet_core.store.logs import JobLogs
from crawlfleet_core.store.projects import ProjectStore
from crawlfleet_workers.activity import pod_name
from crawlfleet_workers.config import worker_settings
from crawlfleet_workers.eggs import EggCache


def patient_job_store(settings: Settings) -> JobStore:
    """The job store as a worker and its crawls write it: outlasting a Redis outage as
    long as `CRAWLFLEET_REDIS_OUTAGE_SECONDS`, so that a failover loses no stamp or item."""
    return JobStore.from_settings(settings, retry=outage_retry(settings.redis_outage_seconds))


@cache
def job_store() -> JobStore:
    return patient_job_store(worker_settings())


@cache
def job_logs() -> JobLogs:
    """The job logs as the pool process writes them, patient as its job store: the
    line saying why a crawl is retried must not turn the retry into a failure when
    Redis fails over just then. (The crawl's own log handler drops what it cannot
    store, so that a crawl never waits on its log.)"""
    settings = worker_settings()
    return JobLogs.from_settings(settings, retry=outage_retry(settings.redis_outage_seconds))


@cache
def egg_cache() -> EggCache:
    settings = worker_settings()
    return EggCache(settings.egg_cache_dir, ProjectStore.from_settings(settings), settings.egg_cache_max_bytes)


@signals.task_received.connect
def _received(request: Request, **_: Any) -> None:
    job_store().mark(request.id, "received_at", worker=pod_name(request.hostname))


@signals.task_prerun.connect
def _started(task_id: str, **_: Any) -> None:
    job_store().mark(task_id, "started_at")


@signals.task_postrun.connect
def _finished(task_id: str, state: str | None = None, **_: Any) -> None:
    if state in FINISHED_STATES:
        job_store().mark(task_id, "finished_at")
