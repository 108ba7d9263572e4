"""kopf handlers for ScrapeJobs. Each translates an event into calls of the job
service and of the plain functions in `scrapejobs` and `schedules`, and patches
the status they return. The few API calls of their own go through `cluster`,
whose client the whole operator shares (`memo.scrapejobs`).

Handlers return nothing: kopf would store a return value in the status, where
the structural schema has no room for it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import kopf
from pydantic import ValidationError

from crawlfleet_core.clock import now
from crawlfleet_core.resources import GROUP, VERSION
from crawlfleet_core.resources.scrapejobs import ScrapeJobSpec, ScrapeJobStatus
from crawlfleet_core.service import CancelConflictError, InvalidSpecError, JobService
from crawlfleet_core.settings import get_settings
from crawlfleet_operator import cluster, schedules, scrapejobs
from crawlfleet_operator.config import OperatorConfig, release_labels
from crawlfleet_operator.metrics import start_metrics_server

SCRAPEJOBS = (GROUP, VERSION, cluster.SCRAPEJOBS)
CONFIG = OperatorConfig()


@kopf.on.startup()
async def start_operator(memo: kopf.Memo, **_: Any) -> None:
    if CONFIG.metrics_port:
        start_metrics_server(CONFIG.metrics_port)
    memo.jobs = JobService.from_settings(get_settings())


def publish(body: kopf.Body, before: ScrapeJobStatus, after: ScrapeJobStatus, patch: kopf.Patch) -> None:
    """Patch the status when it changed, with an Event when the phase did."""
    if after == before:
        return
    patch.status.update(scrapejobs.status_patch(after))
    event = scrapejobs.phase_event(before.phase, after)
    if event is not None:
        kind, reason, message = event
        kopf.event(body, type=kind, reason=reason, message=message)


@kopf.on.resume(*SCRAPEJOBS)
@kopf.on.create(*SCRAPEJOBS)
@kopf.on.update(*SCRAPEJOBS, field="spec.suspend")
def start_job(
    *,
    body: kopf.Body,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """Submit the job, or hold it while suspended.

    The job id is the object's uid, and `submit` publishes an id only once, so
    running this again after an operator restart never starts a second crawl."""
    before = ScrapeJobStatus.model_validate(dict(status))
    generation = int(meta["generation"])
    moment = now()
    try:
        parsed = ScrapeJobSpec.model_validate(dict(spec))
    except ValidationError as error:
        publish(body, before, scrapejobs.invalid_status(before, _describe(error), generation, moment), patch)
        return
    if parsed.schedule is not None or (before.phase is not None and before.phase.finished):
        return  # a schedule's status is run_schedule's; a finished job is never submitted again
    if parsed.suspend and before.job_id is None:
        publish(body, before, scrapejobs.suspended_status(before, generation, moment), patch)
        return
    jobs: JobService = memo.jobs
    try:
        job_id = jobs.submit(
            parsed.job_spec(), job_id=str(meta["uid"]), source="operator", tenant=str(meta["namespace"])
        )
    except InvalidSpecError as error:
        publish(body, before, scrapejobs.invalid_status(before, f"spec.{error}", generation, moment), patch)
        return
    after = scrapejobs.submitted_status(jobs.status(job_id), before, job_id, generation, moment)
    publish(body, before, after, patch)


def _describe(error: ValidationError) -> str:
    return "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())


def _created(meta: kopf.Meta) -> datetime:
    return datetime.fromisoformat(str(meta["creationTimestamp"]))


def _running(spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    return "schedule" not in spec and bool(status.get("jobId")) and status.get("phase") not in scrapejobs.FINISHED


@kopf.timer(*SCRAPEJOBS, interval=CONFIG.status_interval_seconds, when=_running)
def mirror_job(
    *, body: kopf.Body, meta: kopf.Meta, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    """Copy the job's state and progress into the status while it runs."""
    before = ScrapeJobStatus.model_validate(dict(status))
    job_id = str(before.job_id)
    jobs: JobService = memo.jobs
    after = scrapejobs.submitted_status(jobs.status(job_id), before, job_id, int(meta["generation"]), now())
    publish(body, before, after, patch)


@kopf.on.delete(*SCRAPEJOBS)
def cancel_job(
    *, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Revoke the crawl before the object goes. The uid is the job id whether or
    not the status recorded it yet, so a crawl submitted just before a crash of
    the operator is found too."""
    if "schedule" in spec or status.get("phase") in scrapejobs.FINISHED:
        return
    jobs: JobService = memo.jobs
    try:
        cancelled = jobs.cancel(str(meta["uid"]))
    except CancelConflictError:
        return
    if cancelled is not None:
        logger.info(f"revoked job {cancelled.id}")


def _expires(spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    return spec.get("ttlSecondsAfterFinished") is not None and status.get("phase") in scrapejobs.FINISHED


@kopf.timer(*SCRAPEJOBS, interval=CONFIG.status_interval_seconds, when=_expires)
async def expire_job(*, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, memo: kopf.Memo, **_: Any) -> None:
    """Delete a finished ScrapeJob once its ttlSecondsAfterFinished has passed."""
    if scrapejobs.ttl_expired(ScrapeJobStatus.model_validate(dict(status)), spec["ttlSecondsAfterFinished"], now()):
        await memo.scrapejobs.delete(str(meta["namespace"]), str(meta["name"]))


def _scheduled(spec: kopf.Spec, **_: Any) -> bool:
    return "schedule" in spec


@kopf.timer(*SCRAPEJOBS, interval=CONFIG.schedule_interval_seconds, when=_scheduled)
async def run_schedule(
    *,
    body: kopf.Body,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """Create the run of a due tick, and delete finished runs beyond the history limit."""
    before = ScrapeJobStatus.model_validate(dict(status))
    try:
        parsed = ScrapeJobSpec.model_validate(dict(spec))
    except ValidationError:
        return  # start_job has marked the ScrapeJob as failed
    assert parsed.schedule is not None
    moment = now()
    last = before.last_schedule_time or _created(meta)
    tick = None if parsed.suspend else schedules.due_run(parsed.schedule, last, moment)
    runs: cluster.ScrapeJobs = memo.scrapejobs
    if tick is not None:
        name = schedules.run_name(str(meta["name"]), tick)
        labels = {schedules.SCHEDULE_LABEL: str(meta["name"])} | release_labels(meta.labels)
        if await runs.create_run(dict(body), name, parsed.run_spec(), labels):
            kopf.event(body, type="Normal", reason="RunCreated", message=f"created run {name} for {tick.isoformat()}")
    namespace = str(meta["namespace"])
    for name in schedules.runs_to_delete(await runs.runs(namespace, str(meta["name"])), parsed.history_limit):
        await runs.delete(namespace, name)
    upcoming = schedules.next_run(parsed.schedule, moment)
    current = before if tick is None else before.model_copy(update={"last_schedule_time": tick})
    after = scrapejobs.scheduled_status(current, parsed, upcoming, int(meta["generation"]), moment)
    publish(body, before, after, patch)
