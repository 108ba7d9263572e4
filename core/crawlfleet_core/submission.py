"""The one way to submit, read and cancel a job, used by the API and the operator alike."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import Celery
from celery.result import AsyncResult
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from crawlfleet_core.celery_app import CRAWL_TASK, create_celery_app
from crawlfleet_core.jobs import JobSpec
from crawlfleet_core.records import JobRecord, JobStore, Progress, now
from crawlfleet_core.settings import Settings
from crawlfleet_core.states import JobState

# A crawl gets its own time limit plus this much to close cleanly before Celery's
# soft limit, and as much again before the hard limit kills it.
SHUTDOWN_GRACE_SECONDS = 30
REPUBLISH_AFTER_SECONDS = 30


class JobStatus(BaseModel):
    """What a client sees of a job."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    state: JobState
    queue: str
    progress: Progress
    result: dict[str, Any] | None
    error: str | None
    submitted_at: datetime
    received_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class CancelConflictError(Exception):
    """The job has already finished, so there is nothing to cancel."""


@dataclass
class JobService:
    app: Celery
    store: JobStore
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings) -> JobService:
        store = JobStore.from_url(settings.job_store_url, settings.result_ttl_seconds, settings.items_max_per_job)
        return cls(create_celery_app(settings), store, settings)

    def submit(self, spec: JobSpec, *, job_id: str | None = None, source: str = "api") -> str:
        """Record the job and publish its crawl task; the job id is the Celery task id.

        Submitting an id that already has a record publishes nothing again, so a
        caller that derives the id from something stable (a ScrapeJob's uid, an
        Idempotency-Key) can safely call this more than once."""
        job_id = job_id or str(uuid.uuid4())
        if not self.store.create(job_id, spec, source):
            # Publish again only for a record that a crashed submitter left
            # unpublished, never for one a concurrent submitter is publishing now.
            record = self.store.get(job_id)
            if record is None or record.published_at is not None:
                return job_id
            if (now() - record.submitted_at).total_seconds() < REPUBLISH_AFTER_SECONDS:
                return job_id
        soft_limit = min(spec.time_limit_seconds + SHUTDOWN_GRACE_SECONDS, self.settings.soft_time_limit_seconds)
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
        if record is None:
            return None
        result: AsyncResult[Any] = AsyncResult(job_id, app=self.app)
        state = JobState(result.state) if result.state in JobState.__members__ else JobState.PENDING
        if not state.finished and record.revoked_at is not None:
            state = JobState.REVOKED
        elif state is JobState.PENDING and record.received_at is not None:
            state = JobState.RECEIVED
        info = result.info
        outcome = info if state is JobState.SUCCESS and isinstance(info, dict) else None
        error = None
        if state in (JobState.FAILURE, JobState.RETRY) and isinstance(info, BaseException):
            error = f"{type(info).__name__}: {info}"
        elif state is JobState.REVOKED:
            error = "cancelled"
        progress = record.progress
        if outcome is not None:
            progress = Progress(
                pages=outcome.get("pages", progress.pages),
                items=outcome.get("items", progress.items),
                errors=outcome.get("errors", progress.errors),
                percent=100.0,
            )
        finished_at = record.finished_at or (record.revoked_at if state is JobState.REVOKED else None)
        if finished_at is None and state.finished:
            # The worker stamps the record just after the backend records the end,
            # so a reader in between sees a finished job without a finish time.
            finished_at = result.date_done
        return JobStatus(
            id=job_id,
            state=state,
            queue=record.spec.queue,
            progress=progress,
            result=outcome,
            error=error,
            submitted_at=record.submitted_at,
            received_at=record.received_at,
            started_at=record.started_at,
            finished_at=finished_at,
        )

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
