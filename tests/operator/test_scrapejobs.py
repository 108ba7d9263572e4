"""The status a ScrapeJob gets from its job's state: phases, conditions, events, TTL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.states import JobState
from crawlfleet_core.model.status import JobStatus, Progress
from crawlfleet_core.resources.scrapejobs import ScrapeJobPhase, ScrapeJobSpec, ScrapeJobStatus
from crawlfleet_operator import scrapejobs

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def job(state: JobState, pages: int = 0, items: int = 0, error: str | None = None) -> JobStatus:
    finished = T0 + timedelta(minutes=1) if state.finished else None
    return JobStatus(
        id="uid-1",
        state=state,
        queue="default",
        progress=Progress(pages=pages, items=items),
        result=None,
        error=error,
        submitted_at=T0,
        received_at=None,
        started_at=T0 if state not in (JobState.PENDING, JobState.RECEIVED) else None,
        finished_at=finished,
    )


def condition(status: ScrapeJobStatus, kind: str) -> tuple[str, str]:
    found = next(c for c in status.conditions if c.type == kind)
    return found.status, found.reason


@pytest.mark.parametrize(
    ("state", "phase", "succeeded"),
    [
        (JobState.PENDING, ScrapeJobPhase.QUEUED, "Unknown"),
        (JobState.RECEIVED, ScrapeJobPhase.QUEUED, "Unknown"),
        (JobState.STARTED, ScrapeJobPhase.RUNNING, "Unknown"),
        (JobState.PROGRESS, ScrapeJobPhase.RUNNING, "Unknown"),
        (JobState.RETRY, ScrapeJobPhase.RUNNING, "Unknown"),
        (JobState.SUCCESS, ScrapeJobPhase.SUCCEEDED, "True"),
        (JobState.FAILURE, ScrapeJobPhase.FAILED, "False"),
        (JobState.REVOKED, ScrapeJobPhase.CANCELLED, "False"),
    ],
)
def test_every_celery_state_has_a_phase(state: JobState, phase: ScrapeJobPhase, succeeded: str) -> None:
    status = scrapejobs.submitted_status(job(state), ScrapeJobStatus(), "uid-1", 1, T0)
    assert status.phase is phase
    assert status.celery_state is state
    assert condition(status, "Succeeded")[0] == succeeded
    assert condition(status, "Ready") == ("True", "Submitted")
    assert condition(status, "Running")[0] == ("True" if phase is ScrapeJobPhase.RUNNING else "False")
    assert (status.finished_at is not None) == phase.finished


def test_failure_carries_the_error_into_the_condition_message() -> None:
    status = scrapejobs.submitted_status(
        job(JobState.FAILURE, error="CrawlFailedError: every request failed"), ScrapeJobStatus(), "uid-1", 1, T0
    )
    succeeded = next(c for c in status.conditions if c.type == "Succeeded")
    assert (succeeded.reason, succeeded.message) == ("Failed", "CrawlFailedError: every request failed")


def test_a_condition_keeps_its_transition_time_until_its_status_changes() -> None:
    running = scrapejobs.submitted_status(job(JobState.STARTED), ScrapeJobStatus(), "uid-1", 1, T0)
    later = T0 + timedelta(seconds=30)
    still = scrapejobs.submitted_status(job(JobState.PROGRESS, pages=3), running, "uid-1", 1, later)
    times = {c.type: c.last_transition_time for c in still.conditions}
    assert times["Running"] == T0
    done = scrapejobs.submitted_status(job(JobState.SUCCESS, pages=5, items=5), still, "uid-1", 1, later)
    times = {c.type: c.last_transition_time for c in done.conditions}
    assert times["Running"] == later
    assert times["Ready"] == T0


def test_a_lost_record_fails_a_running_job_but_not_a_finished_one() -> None:
    running = scrapejobs.submitted_status(job(JobState.STARTED), ScrapeJobStatus(), "uid-1", 1, T0)
    lost = scrapejobs.submitted_status(None, running, "uid-1", 1, T0)
    assert lost.phase is ScrapeJobPhase.FAILED
    assert condition(lost, "Succeeded") == ("False", "JobLost")
    done = scrapejobs.submitted_status(job(JobState.SUCCESS), ScrapeJobStatus(), "uid-1", 1, T0)
    assert scrapejobs.submitted_status(None, done, "uid-1", 2, T0).phase is ScrapeJobPhase.SUCCEEDED


def test_suspended_job_is_pending_and_says_why() -> None:
    status = scrapejobs.suspended_status(ScrapeJobStatus(), 1, T0)
    assert status.phase is ScrapeJobPhase.PENDING
    assert status.job_id is None
    assert condition(status, "Suspended") == ("True", "Suspended")
    assert condition(status, "Ready") == ("False", "Suspended")


def test_scheduled_job_reports_its_next_run() -> None:
    spec = ScrapeJobSpec.model_validate({"startUrls": ["https://example.com/"], "schedule": "@hourly"})
    status = scrapejobs.scheduled_status(ScrapeJobStatus(), spec, T0 + timedelta(hours=1), 1, T0)
    assert status.phase is ScrapeJobPhase.SCHEDULED
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert "2025-01-01T01:00:00" in ready.message


def test_status_patch_clears_fields_of_an_earlier_phase() -> None:
    patch = scrapejobs.status_patch(scrapejobs.suspended_status(ScrapeJobStatus(), 1, T0))
    assert patch["jobId"] is None
    assert patch["phase"] == "Pending"
    assert patch["observedGeneration"] == 1


def test_an_event_marks_each_change_of_phase() -> None:
    queued = scrapejobs.submitted_status(job(JobState.PENDING), ScrapeJobStatus(), "uid-1", 1, T0)
    assert scrapejobs.phase_event(None, queued) == ("Normal", "Queued", "New -> Queued")
    assert scrapejobs.phase_event(ScrapeJobPhase.QUEUED, queued) is None
    failed = scrapejobs.submitted_status(job(JobState.FAILURE, error="boom"), queued, "uid-1", 1, T0)
    assert scrapejobs.phase_event(ScrapeJobPhase.QUEUED, failed) == ("Warning", "Failed", "Queued -> Failed: boom")


def test_ttl_counts_from_the_finish() -> None:
    done = scrapejobs.submitted_status(job(JobState.SUCCESS), ScrapeJobStatus(), "uid-1", 1, T0)
    assert done.finished_at is not None
    assert not scrapejobs.ttl_expired(done, 60, done.finished_at + timedelta(seconds=59))
    assert scrapejobs.ttl_expired(done, 60, done.finished_at + timedelta(seconds=60))
    assert not scrapejobs.ttl_expired(done, None, done.finished_at + timedelta(days=9))
    running = scrapejobs.submitted_status(job(JobState.STARTED), ScrapeJobStatus(), "uid-1", 1, T0)
    assert not scrapejobs.ttl_expired(running, 0, T0 + timedelta(days=9))


def test_a_spec_the_model_refuses_fails_the_scrapejob() -> None:
    status = scrapejobs.invalid_status(ScrapeJobStatus(), "spec.extract: invalid selector", 1, T0)
    assert status.phase is ScrapeJobPhase.FAILED
    assert condition(status, "Ready") == ("False", "InvalidSpec")


def test_a_run_drops_the_schedule_and_the_job_spec_drops_kubernetes_fields() -> None:
    crawl = {
        "startUrls": ["https://example.com/"],
        "allowedDomains": ["example.com", "example.org"],
        "maxPages": 7,
        "maxDepth": 1,
        "followLinks": False,
        "extract": {"title": "h1::text"},
        "obeyRobotsTxt": False,
        "concurrency": 2,
        "timeLimitSeconds": 60,
        "retries": 0,
        "queue": "fast",
        "priority": 8,
    }
    kubernetes_only = {"schedule": "*/5 * * * *", "suspend": True, "ttlSecondsAfterFinished": 60, "historyLimit": 1}
    spec = ScrapeJobSpec.model_validate(crawl | kubernetes_only)
    run = spec.run_spec()
    assert "schedule" not in run
    assert run["suspend"] is False
    assert ScrapeJobSpec.model_validate(run).schedule is None
    assert spec.job_spec().model_dump().keys() == {name for name in type(spec.job_spec()).model_fields}
    job = spec.job_spec()
    assert type(job) is JobSpec
    carried = job.model_dump(mode="json", by_alias=True)
    assert carried.keys().isdisjoint(kubernetes_only)
    assert {key: carried[key] for key in crawl} == crawl
    assert all(getattr(job, name) == getattr(spec, name) for name in JobSpec.model_fields)
