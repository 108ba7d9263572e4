"""What is known of a submitted job: its record, its progress, the status a
client reads, and pages of its items."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator

from crawlfleet_core.model.base import CamelModel
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.states import JobState

# The tenant of jobs submitted without one: with authentication off, and by a bare token.
DEFAULT_TENANT = "default"


class Progress(CamelModel):
    pages: int = Field(0, description="Pages downloaded and parsed.")
    items: int = Field(0, description="Items scraped.")
    errors: int = Field(0, description="Requests that failed.")
    percent: float = Field(0.0, description="Estimated share of the crawl done, 0 to 100.")


class JobRecord(CamelModel):
    """What the platform keeps of a job beside Celery's state: the spec, when it
    was submitted, published, received, started and finished, whether it was
    cancelled, and its last progress. The record is what makes an unknown id a 404."""

    id: str
    spec: JobSpec
    source: str
    tenant: str = DEFAULT_TENANT
    submitted_at: datetime
    published_at: datetime | None = None
    received_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    revoked_at: datetime | None = None
    progress: Progress = Field(default_factory=Progress)
    worker: str | None = None
    """The pod of the worker that took the job last, whose heartbeat says whether it still runs."""


# The moments of a job that its record stamps, in the order they happen.
TIMESTAMPS = ("published_at", "received_at", "started_at", "finished_at", "revoked_at")


class JobStatus(CamelModel):
    """What a client sees of a job."""

    id: str
    tenant: str = Field(
        DEFAULT_TENANT, description="The tenant the job belongs to: its submitter's, or a ScrapeJob's namespace."
    )
    state: JobState
    queue: str
    project: str | None = Field(None, description="The Scrapy project whose spider runs; null for the built-in spider.")
    spider: str | None = Field(None, description="The project's spider that runs.")
    version: str | None = Field(None, description="The project's deployed version that runs.")
    progress: Progress
    result: dict[str, Any] | None
    error: str | None
    submitted_at: datetime
    received_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class ItemsPage(CamelModel):
    """A page of a job's items and where the next page starts.

    The cursor is a position, not a promise of more: a client reading a running
    job keeps the last `nextCursor` and asks again later for what came since."""

    items: list[dict[str, Any]] = Field(description="Items in the order they were scraped: `url` plus the fields.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to read on after this page; null only before the job's first item."
    )
    has_more: bool = Field(description="Whether more items are stored after this page right now.")


RUNNING_STATES = frozenset({JobState.RECEIVED, JobState.STARTED, JobState.PROGRESS})


def worker_lost(record: JobRecord, named: bool, moment: datetime, grace_seconds: float) -> bool:
    """Whether the worker that took the job is gone: its heartbeat does not name the
    job (it ran out, or a restarted worker of the same pod names other tasks), and
    the job was taken long enough ago that a live worker would have named it."""
    if named or record.worker is None or record.received_at is None:
        return False
    return (moment - record.received_at).total_seconds() >= grace_seconds


def job_status(
    record: JobRecord, celery_state: str, info: Any, date_done: datetime | None, *, lost_worker: bool = False
) -> JobStatus:
    """What a client sees of a job, from its record and what the result backend says.

    Celery knows RECEIVED only as a worker event and says PENDING for any id, so the
    record's stamps refine its answer: a `receivedAt` on a PENDING job is RECEIVED, a
    `revokedAt` on an unfinished one is REVOKED (a revoke of a queued task reaches
    the backend only when a worker meets the task), and a job taken again after its
    run started (redelivered) is RECEIVED until the new run starts. The backend keeps
    the last state a worker wrote, so a job whose worker died reads as running; with
    `lost_worker` (see `worker_lost`) it is RETRY instead: it goes back to its queue."""
    state = JobState(celery_state) if celery_state in JobState.__members__ else JobState.PENDING
    received, started = record.received_at, record.started_at
    if not state.finished and record.revoked_at is not None:
        state = JobState.REVOKED
    elif received is not None and (
        state is JobState.PENDING or (state in RUNNING_STATES and started is not None and received > started)
    ):
        state = JobState.RECEIVED
    outcome = info if state is JobState.SUCCESS and isinstance(info, dict) else None
    error = None
    if state in RUNNING_STATES and lost_worker:
        state = JobState.RETRY
        error = (
            f"WorkerLostError: worker {record.worker} stopped heartbeating; the job goes back to its queue"
            " and runs again"
        )
    elif state in (JobState.FAILURE, JobState.RETRY) and isinstance(info, BaseException):
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
        finished_at = date_done
    return JobStatus(
        id=record.id,
        tenant=record.tenant,
        state=state,
        queue=record.spec.queue,
        project=record.spec.project,
        spider=record.spec.spider,
        version=record.spec.version,
        progress=progress,
        result=outcome,
        error=error,
        submitted_at=record.submitted_at,
        received_at=record.received_at,
        started_at=record.started_at,
        finished_at=finished_at,
    )


class JobQuery(CamelModel):
    """Which jobs a listing shows: a tenant's (or every tenant's), newest first."""

    tenant: str | None = None
    states: frozenset[JobState] = frozenset()
    queue: str | None = None
    project: str | None = None
    spider: str | None = None
    since: datetime | None = None
    cursor: str | None = None
    limit: int = 50

    @field_validator("since")
    @classmethod
    def _aware(cls, since: datetime | None) -> datetime | None:
        """A time without a zone is UTC, as every stored time is."""
        return since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since

    def admits(self, status: JobStatus) -> bool:
        """Whether `status` passes the filters (the tenant is chosen by the index read)."""
        return (
            (not self.states or status.state in self.states)
            and (self.queue is None or status.queue == self.queue)
            and (self.project is None or status.project == self.project)
            and (self.spider is None or status.spider == self.spider)
            and (self.since is None or status.submitted_at >= self.since)
        )


class JobsPage(CamelModel):
    """A page of a job listing and where the next page starts."""

    jobs: list[JobStatus] = Field(description="Jobs, newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null when the listing ended.")
    has_more: bool = Field(description="Whether older jobs may follow: ask again with `nextCursor`.")
