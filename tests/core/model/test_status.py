"""How a job's status is read from its record and the result backend's answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crawlfleet_core.model.failures import CrawlFailedError
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.states import JobState
from crawlfleet_core.model.status import JobRecord, Progress, job_status, worker_lost

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = JobSpec(start_urls=["https://example.com/"], queue="fast")


def record(**stamps: Any) -> JobRecord:
    return JobRecord(id="job-1", spec=SPEC, source="api", submitted_at=T0, **stamps)


def test_an_untouched_job_is_pending_on_its_queue() -> None:
    status = job_status(record(), "PENDING", None, None)
    assert (status.id, status.state, status.queue, status.finished_at) == ("job-1", JobState.PENDING, "fast", None)


def test_a_state_celery_does_not_name_reads_as_pending() -> None:
    assert job_status(record(), "SOMETHING-NEW", None, None).state is JobState.PENDING


def test_pending_with_a_received_stamp_is_received() -> None:
    """Celery keeps RECEIVED only as a worker event; the worker stamps the record."""
    status = job_status(record(received_at=T0), "PENDING", None, None)
    assert status.state is JobState.RECEIVED and status.received_at == T0


@pytest.mark.parametrize("celery_state", ["PENDING", "STARTED", "PROGRESS", "RETRY"])
def test_an_unfinished_job_with_a_revoke_stamp_is_revoked_and_finished_then(celery_state: str) -> None:
    revoked = T0 + timedelta(seconds=3)
    status = job_status(record(received_at=T0, revoked_at=revoked), celery_state, None, None)
    assert (status.state, status.error, status.finished_at) == (JobState.REVOKED, "cancelled", revoked)


@pytest.mark.parametrize("celery_state", ["SUCCESS", "FAILURE"])
def test_a_revoke_stamp_does_not_rewrite_a_job_that_had_finished(celery_state: str) -> None:
    status = job_status(record(revoked_at=T0), celery_state, {"pages": 1}, T0)
    assert status.state is JobState(celery_state)


def test_success_carries_the_stats_and_full_progress() -> None:
    stats = {"pages": 7, "items": 5, "errors": 1, "finish_reason": "finished"}
    stale = record(progress=Progress(pages=3, items=2, errors=0, percent=40.0))
    status = job_status(stale, "SUCCESS", stats, T0)
    assert status.result == stats
    assert status.progress == Progress(pages=7, items=5, errors=1, percent=100.0)


def test_failure_and_retry_name_the_error() -> None:
    error = CrawlFailedError("10.0.0.1 is not a public address")
    for state in ("FAILURE", "RETRY"):
        status = job_status(record(), state, error, None)
        assert status.error == "CrawlFailedError: 10.0.0.1 is not a public address"
        assert status.result is None


def test_a_finished_job_has_a_finish_time_even_before_the_worker_stamps_it() -> None:
    """The backend records the end a moment before the worker stamps the record."""
    done = T0 + timedelta(seconds=9)
    assert job_status(record(), "SUCCESS", {}, done).finished_at == done
    stamped = T0 + timedelta(seconds=10)
    assert job_status(record(finished_at=stamped), "SUCCESS", {}, done).finished_at == stamped
    assert job_status(record(), "PROGRESS", None, done).finished_at is None


GRACE = 7.0


def test_a_worker_is_lost_when_its_heartbeat_no_longer_names_a_job_it_took_long_enough_ago() -> None:
    taken = record(received_at=T0, worker="pod-a")
    assert worker_lost(taken, named=False, moment=T0 + timedelta(seconds=GRACE), grace_seconds=GRACE)
    assert not worker_lost(taken, named=True, moment=T0 + timedelta(hours=1), grace_seconds=GRACE)
    # Just taken: kombu recorded the delivery a moment before the worker could name it.
    assert not worker_lost(taken, named=False, moment=T0 + timedelta(seconds=1), grace_seconds=GRACE)
    assert not worker_lost(record(), named=False, moment=T0 + timedelta(hours=1), grace_seconds=GRACE)


@pytest.mark.parametrize("celery_state", ["PENDING", "STARTED", "PROGRESS"])
def test_a_running_job_whose_worker_was_lost_is_retry_naming_the_worker(celery_state: str) -> None:
    progress = Progress(pages=25, items=25, errors=0, percent=25.0)
    taken = record(received_at=T0, started_at=T0, worker="pod-a", progress=progress)
    status = job_status(taken, celery_state, {"pages": 25}, None, lost_worker=True)
    assert status.state is JobState.RETRY
    assert status.error is not None and "pod-a" in status.error and "goes back to its queue" in status.error
    assert status.progress == progress and status.finished_at is None


@pytest.mark.parametrize("celery_state", ["SUCCESS", "FAILURE", "REVOKED", "RETRY"])
def test_a_lost_worker_does_not_rewrite_a_job_that_is_not_running(celery_state: str) -> None:
    taken = record(received_at=T0, started_at=T0, worker="pod-a")
    assert job_status(taken, celery_state, None, T0, lost_worker=True).state is JobState(celery_state)


@pytest.mark.parametrize("celery_state", ["STARTED", "PROGRESS"])
def test_a_job_taken_again_after_its_run_started_is_received_until_the_new_run_starts(celery_state: str) -> None:
    """The backend keeps the dead run's state until the new run writes its own."""
    redelivered = record(received_at=T0 + timedelta(seconds=20), started_at=T0, worker="pod-b")
    assert job_status(redelivered, celery_state, None, None).state is JobState.RECEIVED
    restarted = redelivered.model_copy(update={"started_at": T0 + timedelta(seconds=21)})
    assert job_status(restarted, celery_state, None, None).state is JobState(celery_state)
