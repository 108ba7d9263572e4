"""The one way to submit, read and cancel a job, used by the API and the operator alike."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import Celery
from celery.result import AsyncResult

from crawlfleet_core.celery_app import CRAWL_TASK, create_celery_app
from crawlfleet_core.clock import now
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.states import JobState
from crawlfleet_core.model.status import DEFAULT_TENANT, JobQuery, JobRecord, JobsPage, JobStatus, job_status
from crawlfleet_core.requirements import unmet_requirements
from crawlfleet_core.settings import Settings
from crawlfleet_core.store.jobs import JobStore

# A crawl gets its own time limit plus this much to close cleanly before Celery's
# soft limit, and as much again before the hard limit kills it.
SHUTDOWN_GRACE_SECONDS = 30
REPUBLISH_AFTER_SECONDS = 30
# Most jobs one listing call looks at, whatever its filters.
LIST_SCAN_LIMIT = 1000


def needs_publishing(record: JobRecord | None, moment: datetime) -> bool:
    """Whether a repeated submission of an existing record must publish its task.

    Only a record that a crashed submitter left unpublished is published again, and
    only once it is old enough that no concurrent submitter can still be publishing it."""
    if record is None or record.published_at is not None:
        return False
    return (moment - record.submitted_at).total_seconds() >= REPUBLISH_AFTER_SECONDS


class InvalidSpecError(ValueError):
    """A spec the platform cannot run as asked. `field` names the spec's field as a
    client wrote it (camelCase), `value` what it asked for."""

    def __init__(self, field: str, value: object, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.value = value
        self.message = message


def allowed_time_limit(spec: JobSpec, settings: Settings) -> int:
    """How long the platform lets the job's crawl run; more than the platform's
    limit is refused, as the crawl would be stopped before its own limit."""
    limit = settings.soft_time_limit_seconds
    asked = spec.time_limit_seconds
    if asked is not None and asked > limit:
        raise InvalidSpecError(
            "timeLimitSeconds",
            asked,
            f"{asked} s is longer than this platform lets a crawl run: at most {limit} s "
            "(CRAWLFLEET_SOFT_TIME_LIMIT_SECONDS); ask for less, or omit it to run as long as allowed",
        )
    return spec.time_limit(limit)


class CancelConflictError(Exception):
    """The job has already finished, so there is nothing to cancel."""


@dataclass
class JobService:
    app: Celery
    store: JobStore
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings) -> JobService:
        return cls(create_celery_app(settings), JobStore.from_settings(settings), settings)

    def submit(
        self, spec: JobSpec, *, job_id: str | None = None, source: str = "api", tenant: str = DEFAULT_TENANT
    ) -> str:
        """Record the job and publish its crawl task; the job id is the Celery task id.

        Submitting an id that already has a record publishes nothing again, so a
        caller that derives the id from something stable (a ScrapeJob's uid, an
        Idempotency-Key) can safely call this more than once. A spec the platform
        cannot run as asked raises InvalidSpecError, and leaves nothing behind."""
        if unmet := unmet_requirements(spec, self.settings):
            raise InvalidSpecError(unmet[0].field, unmet[0].value, unmet[0].message)
        limit = allowed_time_limit(spec, self.settings)
        # The record and the worker see the limit the crawl runs with, whoever's settings they read.
        spec = spec.model_copy(update={"time_limit_seconds": limit})
        job_id = job_id or str(uuid.uuid4())
        if not self.store.create(job_id, spec, source, tenant) and not needs_publishing(self.store.get(job_id), now()):
            return job_id
        soft_limit = min(limit + SHUTDOWN_GRACE_SECONDS, self.settings.soft_time_limit_seconds)
        try:
            self.app.send_task(
                CRAWL_TASK,
                args=[spec.model_dump(mode="json", by_alias=True)],
                task_id=job_id,
                queue=spec.queue,
                priority=spec.celery_priority(),
                soft_time_limit=soft_limit,
                time_limit=min(soft_limit + SHUTDOWN_GRACE_SECONDS, self.settings.hard_time_limit_seconds),
            )
        except Exception:
            # A record without a task would sit in PENDING forever.
            self.store.delete(job_id)
            raise
        self.store.mark(job_id, "published_at")
        return job_id

    def status(self, job_id: str) -> JobStatus | None:
        """The job's state as the result backend and its record tell it; None for an unknown id."""
        record = self.store.get(job_id)
        return None if record is None else self._status(record)

    def _status(self, record: JobRecord) -> JobStatus:
        result: AsyncResult[Any] = AsyncResult(record.id, app=self.app)
        return job_status(record, result.state, result.info, result.date_done)

    def list_jobs(self, query: JobQuery) -> JobsPage:
        """A page of jobs matching `query`, newest first.

        Filters are applied to what the index lists, so one call examines at most
        `LIST_SCAN_LIMIT` jobs: a rare match among many jobs may take several pages,
        each with a cursor to go on from, but no call scans the whole history."""
        jobs: list[JobStatus] = []
        cursor, examined = query.cursor, 0
        while len(jobs) < query.limit and examined < LIST_SCAN_LIMIT:
            batch = self.store.recent(query.tenant, cursor, min(LIST_SCAN_LIMIT - examined, max(query.limit, 50)))
            if not batch:
                return JobsPage(jobs=jobs, next_cursor=None, has_more=False)
            records = self.store.records([job_id for _, job_id in batch])
            for (position, _), record in zip(batch, records, strict=True):
                cursor, examined = position, examined + 1
                if record is None:
                    continue
                if query.since is not None and record.submitted_at < query.since:
                    # The index is in submission order: nothing older can match.
                    return JobsPage(jobs=jobs, next_cursor=None, has_more=False)
                status = self._status(record)
                if query.admits(status):
                    jobs.append(status)
                    if len(jobs) == query.limit:
                        break
        return JobsPage(jobs=jobs, next_cursor=cursor, has_more=True)

    def cancel(self, job_id: str) -> JobStatus | None:
        """Revoke the job, terminating its crawl if one runs; None for an unknown id."""
        current = self.status(job_id)
        if current is None:
            return None
        if current.state.finished:
            if current.state is JobState.REVOKED:
                return current
            raise CancelConflictError(f"job {job_id} already finished with {current.state}")
        # The record's mark is what a worker checks before it starts the job, so a
        # task still queued when no worker heard the broadcast is cancelled too.
        self.store.mark(job_id, "revoked_at")
        self.app.control.revoke(job_id, terminate=True, signal="SIGTERM")
        return self.status(job_id)

    def record(self, job_id: str) -> JobRecord | None:
        return self.store.get(job_id)
