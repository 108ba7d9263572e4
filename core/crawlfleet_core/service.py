"""The one way to submit, read and cancel a job, used by the API and the operator alike."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

import redis
from celery import Celery, states
from celery.result import AsyncResult

from crawlfleet_core.celery_app import CRAWL_TASK, create_celery_app
from crawlfleet_core.clock import now
from crawlfleet_core.model.frontier import shard_task_id
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.projects import Project, ProjectSource
from crawlfleet_core.model.states import JobState
from crawlfleet_core.model.status import (
    DEFAULT_TENANT,
    JobQuery,
    JobRecord,
    JobsPage,
    JobStatus,
    job_status,
    worker_lost,
)
from crawlfleet_core.requirements import unmet_requirements
from crawlfleet_core.settings import Settings
from crawlfleet_core.store.connections import redis_client
from crawlfleet_core.store.jobs import JobStore
from crawlfleet_core.store.projects import ProjectStore
from crawlfleet_core.store.queues import task_in_broker
from crawlfleet_core.store.workers import UNNAMED_GRACE_SECONDS, WorkerHeartbeats

# A crawl gets its own time limit plus this much to close cleanly before Celery's
# soft limit, and as much again before the hard limit kills it.
SHUTDOWN_GRACE_SECONDS = 30
# How long a submitter may take to publish a job before another publisher may finish
# it: far more than a publish takes, short enough that a job whose submitter died is
# queued within seconds.
PUBLISH_CLAIM_SECONDS = 10.0
# A job that the index lists this long is looked at by `publish_stranded`; younger
# ones are still being published by their submitter, whose claim would stop it anyway.
STRANDED_AFTER_SECONDS = 1.0
# How often the API and the workers look for stranded jobs.
STRANDED_SWEEP_SECONDS = 2.0
# Most jobs one listing call looks at, whatever its filters.
LIST_SCAN_LIMIT = 1000


class Publication(StrEnum):
    """What one attempt to finish a job's publishing found."""

    PUBLISHED = "published"
    """This attempt published the task."""
    SETTLED = "settled"
    """The task was in the broker already (or the job is gone): nothing to publish."""
    CLAIMED = "claimed"
    """Another publisher holds the job's claim: it may be publishing right now."""


class PublishPendingError(Exception):
    """Another publisher held the job's claim for longer than a publish takes."""


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


def allowed_shards(spec: JobSpec, settings: Settings) -> None:
    """Refuse more shards than the platform lets one job take from its workers."""
    if spec.shards > settings.max_shards:
        raise InvalidSpecError(
            "shards",
            spec.shards,
            f"{spec.shards} shards are more than this platform runs for one job: at most {settings.max_shards} "
            "(CRAWLFLEET_MAX_SHARDS)",
        )


class CancelConflictError(Exception):
    """The job has already finished, so there is nothing to cancel."""


def runnable_spec(spec: JobSpec, project: Project | None) -> JobSpec:
    """`spec` as it will run: a deployed project's version pinned to the latest when
    it names none, so that a later deployment does not change a queued job.

    Raises InvalidSpecError naming the field when the project, the version or the
    spider is not there, or the project is installed only in other queues' workers."""
    if spec.project is None:
        return spec
    if project is None:
        raise InvalidSpecError(
            "project",
            spec.project,
            f"no project {spec.project!r}: deploy it with scrapyd-deploy (addversion.json), "
            "or list the projects at GET /v1/projects",
        )
    if project.source is ProjectSource.IMAGE:
        if spec.version is not None:
            raise InvalidSpecError(
                "version", spec.version, f"project {spec.project!r} is installed, not deployed: it has no versions"
            )
        queues = [pool.queue for pool in project.installed]
        pool = next((pool for pool in project.installed if pool.queue == spec.queue), None)
        if pool is None:
            raise InvalidSpecError(
                "queue",
                spec.queue,
                f"project {spec.project!r} is installed in the workers of queue {', '.join(map(repr, queues))} only: "
                "submit the job to one of them",
            )
        spiders = pool.spiders
    else:
        versions = [version.version for version in project.versions]
        if spec.version is not None and spec.version not in versions:
            raise InvalidSpecError(
                "version",
                spec.version,
                f"project {spec.project!r} has no version {spec.version!r}; it has {', '.join(versions)}",
            )
        spec = spec.model_copy(update={"version": spec.version or versions[-1]})
        spiders = project.spiders(spec.version)
    if spec.spider not in spiders:
        raise InvalidSpecError(
            "spider",
            spec.spider,
            f"project {spec.project!r}"
            + (f" version {spec.version!r}" if spec.version else "")
            + f" has no spider {spec.spider!r}; its spiders: {', '.join(spiders) or 'none'}",
        )
    return spec


@dataclass
class JobService:
    app: Celery
    store: JobStore
    projects: ProjectStore
    broker: redis.Redis
    """The broker's Redis, read beside Celery: worker heartbeats, tasks waiting or held."""
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings) -> JobService:
        store, projects = JobStore.from_settings(settings), ProjectStore.from_settings(settings)
        broker = redis_client(settings.broker_url, settings.redis_sentinel_master, decode_responses=True)
        return cls(create_celery_app(settings), store, projects, broker, settings)

    @cached_property
    def workers(self) -> WorkerHeartbeats:
        return WorkerHeartbeats(self.broker)

    def submit(
        self, spec: JobSpec, *, job_id: str | None = None, source: str = "api", tenant: str = DEFAULT_TENANT
    ) -> str:
        """Record the job and publish its crawl task; the job id is the Celery task id.
        When this returns, the task is in the broker.

        Submitting an id that already has a record publishes nothing again, so a
        caller that derives the id from something stable (a ScrapeJob's uid, an
        Idempotency-Key) can safely call this more than once; if the first submitter
        died before publishing, the repeat publishes, once that submitter's claim has
        run out. The record, its entry among the unpublished jobs and the claim are
        written in one step, so a job is never recorded without being findable. A spec
        the platform cannot run as asked raises InvalidSpecError, and leaves nothing behind:
        so does a project's job naming a project, version or spider the tenant's
        catalog lacks, unless its id was submitted already (a repeat never fails
        because the project changed since)."""
        if unmet := unmet_requirements(spec, self.settings):
            raise InvalidSpecError(unmet[0].field, unmet[0].value, unmet[0].message)
        limit = allowed_time_limit(spec, self.settings)
        allowed_shards(spec, self.settings)
        # The record and the worker see the limit the crawl runs with, whoever's settings they read.
        spec = spec.model_copy(update={"time_limit_seconds": limit})
        job_id = job_id or str(uuid.uuid4())
        if spec.project is not None:
            existing = self.store.get(job_id)
            spec = existing.spec if existing else runnable_spec(spec, self.projects.project(tenant, spec.project))
        if not self.store.create(job_id, spec, source, uuid.uuid4().hex, PUBLISH_CLAIM_SECONDS, tenant):
            self._await_publishing(job_id)
            return job_id
        try:
            self._send(job_id, spec)
        except Exception:
            # A record without a task would sit in PENDING forever.
            self.store.delete(job_id)
            raise
        self.store.published(job_id)
        return job_id

    def publish_stranded(self) -> list[str]:
        """Publish the jobs whose submitter died between recording and publishing
        them (their claims ran out); the ids published. The API and every worker call
        this every `STRANDED_SWEEP_SECONDS`."""
        return [
            job_id
            for job_id in self.store.unpublished(STRANDED_AFTER_SECONDS)
            if self._finish_publishing(job_id) is Publication.PUBLISHED
        ]

    def _await_publishing(self, job_id: str) -> None:
        """Return once the job's task is in the broker, publishing it if its submitter cannot."""
        deadline = time.monotonic() + PUBLISH_CLAIM_SECONDS + 1
        while self._finish_publishing(job_id) is Publication.CLAIMED:
            if time.monotonic() > deadline:
                raise PublishPendingError(f"job {job_id} is still being published; try again shortly")
            time.sleep(0.05)

    def _finish_publishing(self, job_id: str) -> Publication:
        record = self.store.get(job_id)
        if record is not None and record.published_at is not None:
            return Publication.SETTLED
        claim = uuid.uuid4().hex
        if not self.store.claim_publishing(job_id, claim, PUBLISH_CLAIM_SECONDS):
            return Publication.CLAIMED
        try:
            # Read again under the claim: a publisher that finished meanwhile stamped the
            # record before letting go of its claim. One that died after publishing left
            # the task in the broker, or a worker has stamped taking it.
            record = self.store.get(job_id)
            publish = (
                record is not None
                and record.published_at is None
                and record.received_at is None
                and not task_in_broker(self.broker, record.spec.queue, job_id)
            )
            if record is not None and publish:
                self._send(job_id, record.spec)
        except Exception:
            self.store.release_claim(job_id, claim)
            raise
        self.store.published(job_id)
        return Publication.PUBLISHED if publish else Publication.SETTLED

    def _send(self, job_id: str, spec: JobSpec) -> None:
        """Publish the job's crawl tasks, one per shard; the first, the job's own, last,
        so that a publisher that finds it in the broker knows every shard's is there."""
        limit = spec.time_limit(self.settings.soft_time_limit_seconds)
        soft_limit = min(limit + SHUTDOWN_GRACE_SECONDS, self.settings.soft_time_limit_seconds)
        for shard in reversed(range(spec.shards)):
            self.app.send_task(
                CRAWL_TASK,
                args=[spec.model_dump(mode="json", by_alias=True)],
                kwargs={"job_id": job_id, "shard": shard} if shard else {},
                task_id=shard_task_id(job_id, shard),
                queue=spec.queue,
                priority=spec.celery_priority(),
                soft_time_limit=soft_limit,
                time_limit=min(soft_limit + SHUTDOWN_GRACE_SECONDS, self.settings.hard_time_limit_seconds),
            )

    def status(self, job_id: str) -> JobStatus | None:
        """The job's state as the result backend and its record tell it; None for an unknown id."""
        record = self.store.get(job_id)
        return None if record is None else self._status(record)

    def _status(self, record: JobRecord) -> JobStatus:
        result: AsyncResult[Any] = AsyncResult(record.id, app=self.app)
        state = result.state
        lost = (
            record.worker is not None
            and state not in states.READY_STATES
            and worker_lost(record, self.workers.holds(record.worker, record.id), now(), UNNAMED_GRACE_SECONDS)
        )
        return job_status(record, state, result.info, result.date_done, lost_worker=lost)

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
        record = self.store.get(job_id)
        if record is None:
            return None
        current = self._status(record)
        if current.state.finished:
            if current.state is JobState.REVOKED:
                return current
            raise CancelConflictError(f"job {job_id} already finished with {current.state}")
        # The record's mark is what a worker checks before it starts the job, so a
        # task still queued when no worker heard the broadcast is cancelled too.
        self.store.mark(job_id, "revoked_at")
        self.app.control.revoke(
            [shard_task_id(job_id, shard) for shard in range(record.spec.shards)], terminate=True, signal="SIGTERM"
        )
        return self.status(job_id)

    def record(self, job_id: str) -> JobRecord | None:
        return self.store.get(job_id)
