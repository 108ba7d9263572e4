"""What a ScrapeJob's status should say, from what the job service tells of its job.

Plain functions of plain values: the kopf handlers call them and patch what they
return, so every rule of the phase and the conditions is tested without a cluster."""

from __future__ import annotations

from datetime import datetime

from crawlfleet_core.model.conditions import Condition, ConditionStatus, set_condition
from crawlfleet_core.model.states import JobState
from crawlfleet_core.model.status import JobStatus
from crawlfleet_core.resources.scrapejobs import ScrapeJobPhase, ScrapeJobSpec, ScrapeJobStatus

PHASES = {
    JobState.PENDING: ScrapeJobPhase.QUEUED,
    JobState.RECEIVED: ScrapeJobPhase.QUEUED,
    JobState.STARTED: ScrapeJobPhase.RUNNING,
    JobState.PROGRESS: ScrapeJobPhase.RUNNING,
    JobState.RETRY: ScrapeJobPhase.RUNNING,
    JobState.SUCCESS: ScrapeJobPhase.SUCCEEDED,
    JobState.FAILURE: ScrapeJobPhase.FAILED,
    JobState.REVOKED: ScrapeJobPhase.CANCELLED,
}

# Phases as a ScrapeJob's status carries them, for filters that read the raw object.
FINISHED = frozenset(phase.value for phase in ScrapeJobPhase if phase.finished)

# Condition types, in the order `kubectl describe` lists them.
READY = "Ready"
RUNNING = "Running"
SUCCEEDED = "Succeeded"
SUSPENDED = "Suspended"

Verdict = tuple[ConditionStatus, str, str]  # status, reason, message


def _conditions(
    previous: list[Condition], verdicts: dict[str, Verdict], generation: int, now: datetime
) -> list[Condition]:
    """The conditions `verdicts` name and no others: a condition of an earlier
    shape of the object (a failed spec, since fixed) would otherwise linger."""
    conditions = [condition for condition in previous if condition.type in verdicts]
    for kind, (status, reason, message) in verdicts.items():
        conditions = set_condition(
            conditions, type_=kind, status=status, reason=reason, message=message, now=now, generation=generation
        )
    return conditions


def submitted_status(
    job: JobStatus | None, previous: ScrapeJobStatus, job_id: str, generation: int, now: datetime
) -> ScrapeJobStatus:
    """The status of a submitted job; `job` is None when the job store lost its record."""
    if job is None:
        if previous.phase is not None and previous.phase.finished:
            return previous.model_copy(update={"observed_generation": generation})
        return _failed(
            previous,
            reason="JobLost",
            message=f"the job store has no record of job {job_id}",
            generation=generation,
            now=now,
            job_id=job_id,
        )
    phase = PHASES[job.state]
    running = phase is ScrapeJobPhase.RUNNING
    if phase is ScrapeJobPhase.SUCCEEDED:
        outcome: Verdict = ("True", "Succeeded", f"{job.progress.pages} pages, {job.progress.items} items")
    elif phase.finished:
        outcome = ("False", phase.value, job.error or "")
    else:
        outcome = ("Unknown", phase.value, "the job has not finished")
    verdicts: dict[str, Verdict] = {
        READY: ("True", "Submitted", f"job {job.id} on queue {job.queue}"),
        RUNNING: ("True" if running else "False", job.state.title() if running else phase.value, ""),
        SUCCEEDED: outcome,
        SUSPENDED: ("False", "Submitted", ""),
    }
    return ScrapeJobStatus(
        phase=phase,
        job_id=job.id,
        celery_state=job.state,
        progress=job.progress,
        started_at=job.started_at,
        finished_at=job.finished_at if phase.finished else None,
        observed_generation=generation,
        conditions=_conditions(previous.conditions, verdicts, generation, now),
    )


def suspended_status(previous: ScrapeJobStatus, generation: int, now: datetime) -> ScrapeJobStatus:
    verdicts: dict[str, Verdict] = {
        READY: ("False", "Suspended", "spec.suspend holds the job back; set it to false to submit it"),
        RUNNING: ("False", "Suspended", ""),
        SUCCEEDED: ("Unknown", "Suspended", "the job was not submitted"),
        SUSPENDED: ("True", "Suspended", "spec.suspend is true"),
    }
    return ScrapeJobStatus(
        phase=ScrapeJobPhase.PENDING,
        observed_generation=generation,
        conditions=_conditions(previous.conditions, verdicts, generation, now),
    )


def invalid_status(previous: ScrapeJobStatus, message: str, generation: int, now: datetime) -> ScrapeJobStatus:
    """A spec the API server admitted but the job model refuses (a selector that
    does not compile, a cron expression croniter rejects) or the platform cannot
    run (a time limit beyond its own) fails the ScrapeJob."""
    return _failed(previous, reason="InvalidSpec", message=message, generation=generation, now=now, job_id=None)


def scheduled_status(
    previous: ScrapeJobStatus, spec: ScrapeJobSpec, next_run: datetime, generation: int, now: datetime
) -> ScrapeJobStatus:
    if spec.suspend:
        ready: Verdict = ("False", "Suspended", "spec.suspend stops the schedule from creating runs")
    else:
        ready = ("True", "Scheduled", f"next run at {next_run.isoformat()}")
    verdicts: dict[str, Verdict] = {
        READY: ready,
        SUSPENDED: ("True" if spec.suspend else "False", "Suspended" if spec.suspend else "Scheduled", ""),
    }
    return ScrapeJobStatus(
        phase=ScrapeJobPhase.SCHEDULED,
        last_schedule_time=previous.last_schedule_time,
        observed_generation=generation,
        conditions=_conditions(previous.conditions, verdicts, generation, now),
    )


def _failed(
    previous: ScrapeJobStatus, *, reason: str, message: str, generation: int, now: datetime, job_id: str | None
) -> ScrapeJobStatus:
    verdicts: dict[str, Verdict] = {
        READY: ("False", reason, message),
        RUNNING: ("False", reason, ""),
        SUCCEEDED: ("False", reason, message),
        SUSPENDED: ("False", reason, ""),
    }
    return previous.model_copy(
        update={
            "phase": ScrapeJobPhase.FAILED,
            "job_id": job_id,
            "finished_at": previous.finished_at or now,
            "observed_generation": generation,
            "conditions": _conditions(previous.conditions, verdicts, generation, now),
        }
    )


def ttl_expired(status: ScrapeJobStatus, ttl_seconds: int | None, now: datetime) -> bool:
    """Whether a finished ScrapeJob has outlived its ttlSecondsAfterFinished."""
    if ttl_seconds is None or status.phase is None or not status.phase.finished or status.finished_at is None:
        return False
    return (now - status.finished_at).total_seconds() >= ttl_seconds


def status_patch(status: ScrapeJobStatus) -> dict[str, object]:
    """The merge patch of `status`: every field, with null for those unset, so
    that fields of an earlier phase do not linger."""
    return status.model_dump(mode="json", by_alias=True)


def phase_event(before: ScrapeJobPhase | None, after: ScrapeJobStatus) -> tuple[str, str, str] | None:
    """The Event (type, reason, message) that a change of phase deserves, if any."""
    if after.phase is None or after.phase == before:
        return None
    kind = "Warning" if after.phase in (ScrapeJobPhase.FAILED, ScrapeJobPhase.CANCELLED) else "Normal"
    succeeded = next((c for c in after.conditions if c.type == SUCCEEDED), None)
    detail = f": {succeeded.message}" if after.phase.finished and succeeded and succeeded.message else ""
    return kind, after.phase.value, f"{before.value if before else 'New'} -> {after.phase.value}{detail}"
