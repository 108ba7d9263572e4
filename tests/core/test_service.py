"""The job service's rules: when a repeated submission publishes again, and that a
repeat of a published job never does (against a real Redis and broker)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.status import JobRecord
from crawlfleet_core.service import REPUBLISH_AFTER_SECONDS, InvalidSpecError, JobService, needs_publishing
from crawlfleet_core.settings import Settings
from crawlfleet_core.store.keys import job_record, queue_lists
from tests.harness.redis_server import RedisServer

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = JobSpec(start_urls=["https://example.com/"])


def unpublished(**stamps: datetime) -> JobRecord:
    return JobRecord(id="job-1", spec=SPEC, source="api", submitted_at=T0, **stamps)


def test_a_published_or_missing_record_is_never_published_again() -> None:
    later = T0 + timedelta(hours=1)
    assert not needs_publishing(None, later)
    assert not needs_publishing(unpublished(published_at=T0), later)


def test_an_unpublished_record_is_published_again_only_once_no_submitter_can_still_be_at_it() -> None:
    assert not needs_publishing(unpublished(), T0 + timedelta(seconds=REPUBLISH_AFTER_SECONDS - 1))
    assert needs_publishing(unpublished(), T0 + timedelta(seconds=REPUBLISH_AFTER_SECONDS))


def test_submitting_one_id_twice_queues_one_task(job_service: JobService, redis_server: RedisServer) -> None:
    queue = f"q-{uuid.uuid4().hex[:10]}"
    spec = SPEC.model_copy(update={"queue": queue})
    job_id = str(uuid.uuid4())
    assert job_service.submit(spec, job_id=job_id) == job_id
    assert job_service.submit(spec, job_id=job_id) == job_id
    broker = redis_server.client(0)
    assert sum(broker.llen(name) for name in queue_lists(queue)) == 1
    record = job_service.record(job_id)
    assert record is not None and record.published_at is not None


def test_a_record_left_unpublished_is_published_by_a_later_submission(
    job_service: JobService, redis_server: RedisServer
) -> None:
    """A submitter that crashed between the record and the publish leaves a record a
    retry must repair, not answer with an id that nothing will ever run."""
    queue = f"q-{uuid.uuid4().hex[:10]}"
    spec = SPEC.model_copy(update={"queue": queue})
    job_id = str(uuid.uuid4())
    assert job_service.store.create(job_id, spec, "api")
    old = (datetime.now(UTC) - timedelta(seconds=REPUBLISH_AFTER_SECONDS + 1)).isoformat()
    job_service.store.client.hset(job_record(job_id), "submitted_at", old)
    job_service.submit(spec, job_id=job_id)
    broker = redis_server.client(0)
    assert sum(broker.llen(name) for name in queue_lists(queue)) == 1


def test_a_time_limit_beyond_the_platforms_is_refused_naming_the_field_the_limit_and_the_setting(
    job_service: JobService, settings: Settings, redis_server: RedisServer
) -> None:
    queue = f"q-{uuid.uuid4().hex[:10]}"
    limit = settings.soft_time_limit_seconds
    job_id = str(uuid.uuid4())
    with pytest.raises(InvalidSpecError) as refused:
        job_service.submit(SPEC.model_copy(update={"queue": queue, "time_limit_seconds": limit + 1}), job_id=job_id)
    assert refused.value.field == "timeLimitSeconds"
    assert f"at most {limit} s" in refused.value.message
    assert "CRAWLFLEET_SOFT_TIME_LIMIT_SECONDS" in refused.value.message
    assert job_service.record(job_id) is None
    assert sum(redis_server.client(0).llen(name) for name in queue_lists(queue)) == 0


def test_a_job_runs_as_long_as_the_platform_allows_unless_its_spec_asks_for_less(
    job_service: JobService, settings: Settings
) -> None:
    limit = settings.soft_time_limit_seconds
    for asked, runs in ((None, limit), (limit, limit), (limit - 1, limit - 1)):
        job_id = job_service.submit(
            SPEC.model_copy(update={"queue": f"q-{uuid.uuid4().hex[:10]}", "time_limit_seconds": asked})
        )
        record = job_service.record(job_id)
        assert record is not None
        assert record.spec.time_limit_seconds == runs, asked
