"""The one way to submit, read and cancel a job, used by the API and the operator alike."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import Celery, states
from celery.result import AsyncResult

from crawlfleet_core.celery_app import CRAWL_TASK, create_celery_app
from crawlfleet_core.clock import now
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.states import JobState
from crawlfleet_core.model.status import JobRecord, JobStatus, job_status, worker_lost
from crawlfleet_core.settings import Settings
from crawlfleet_core.store.connections import redis_client
from crawlfleet_core.store.jobs import JobStore
from crawlfleet_core.store.workers import UNNAMED_GRACE_SECONDS, WorkerHeartbeats

# A crawl gets its own time limit plus this much to close cleanly before Celery's
# soft limit, and as much again before the hard limit kills it.
SHUTDOWN_GRACE_SECONDS = 30
REPUBLISH_AFTER_SECONDS = 30


def needs_publishing(record: JobRecord | None, moment: datetime) -> bool:
    """Whether a repeated submission of an existing record must publish its task.

    Only a record that a crashed submitter left unpublished is published again, and
    only once it is old enough that no concurrent submitter can still be publishing it."""
    if record is None or record.published_at is not None:
        return False
    return (moment - record.submitted_at).total_seconds() >= REPUBLISH_AFTER_SECONDS


class CancelConflictError(Exception):
    """The job has already finished, so there is nothing to cancel."""


@dataclass
class JobService:
    app: Celery
    store: JobStore
    workers: WorkerHeartbeats
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings) -> JobService:
        broker = redis_client(settings.broker_url, settings.redis_sentinel_master, decode_responses=True)
        return cls(create_celery_app(settings), JobStore.from_settings(settings), WorkerHeartbeats(broker), settings)

    def submit(self, spec: JobSpec, *, job_id: str | None = None, source: str = "api") -> str:
        """Record the job and publish its crawl task; the job id is the Celery task id.

        Submitting an id that already has a record publishes nothing again, so a
        caller that derives the id from something stable (a ScrapeJob's uid, an
        Idempotency-Key) can safely call this more than once."""
        job_id = job_id or str(uuid.uuid4())
        if not self.store.create(job_id, spec, source) and not needs_publishing(self.store.get(job_id), now()):
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
        state = result.state
        lost = (
            record.worker is not None
            and state not in states.READY_STATES
            and worker_lost(record, self.workers.holds(record.worker, job_id), now(), UNNAMED_GRACE_SECONDS)
        )
        return job_status(record, state, result.info, result.date_done, lost_worker=lost)

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
