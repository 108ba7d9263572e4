"""The job service's publishing, against a real Redis and broker: one task per job
however often it is submitted, and a job whose submitter died between recording and
publishing it published once, whoever finishes it."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from crawlfleet_core.celery_app import CRAWL_TASK
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.projects import InstalledProject, Project, ProjectSource, ProjectVersion
from crawlfleet_core.service import STRANDED_AFTER_SECONDS, InvalidSpecError, JobService, runnable_spec
from crawlfleet_core.settings import Settings
from crawlfleet_core.store.keys import UNPUBLISHED_JOBS, queue_lists
from tests.harness.redis_server import RedisServer

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = JobSpec(start_urls=["https://example.com/"])
# The claim of a submitter that died: short, so that the tests need not wait out the real one.
DEAD_CLAIM_SECONDS = 0.2


def fresh_job() -> tuple[str, JobSpec]:
    """A job id and a spec on a queue of its own, which no worker consumes."""
    return str(uuid.uuid4()), SPEC.model_copy(update={"queue": f"q-{uuid.uuid4().hex[:10]}"})


def messages(redis_server: RedisServer, spec: JobSpec) -> int:
    broker = redis_server.client(0)
    return sum(broker.llen(name) for name in queue_lists(spec.queue))


def publish(service: JobService, job_id: str, spec: JobSpec) -> None:
    """The submitter's publish, as it sends it."""
    service.app.send_task(
        CRAWL_TASK, args=[spec.model_dump(mode="json", by_alias=True)], task_id=job_id, queue=spec.queue
    )


def recorded_by_a_submitter_that_died(service: JobService, job_id: str, spec: JobSpec) -> None:
    assert service.store.create(job_id, spec, "api", "dead-submitter", DEAD_CLAIM_SECONDS)
    # Until its claim has run out and sweeps look at it.
    time.sleep(max(DEAD_CLAIM_SECONDS, STRANDED_AFTER_SECONDS) + 0.2)


def test_submitting_one_id_twice_queues_one_task(job_service: JobService, redis_server: RedisServer) -> None:
    job_id, spec = fresh_job()
    assert job_service.submit(spec, job_id=job_id) == job_id
    assert job_service.submit(spec, job_id=job_id) == job_id
    assert messages(redis_server, spec) == 1
    record = job_service.record(job_id)
    assert record is not None and record.published_at is not None
    assert job_service.store.client.zscore(UNPUBLISHED_JOBS, job_id) is None


def test_a_job_left_unpublished_is_published_once_by_racing_publishers(
    job_service: JobService, redis_server: RedisServer
) -> None:
    """Sweeps of several processes and a repeated submission, all at once: one task."""
    job_id, spec = fresh_job()
    recorded_by_a_submitter_that_died(job_service, job_id, spec)
    publishers = [JobService.from_settings(job_service.settings) for _ in range(4)]
    threads = [threading.Thread(target=publisher.publish_stranded) for publisher in publishers[1:]]
    threads.append(threading.Thread(target=publishers[0].submit, args=(spec,), kwargs={"job_id": job_id}))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert messages(redis_server, spec) == 1
    record = job_service.record(job_id)
    assert record is not None and record.published_at is not None
    assert job_id not in job_service.store.unpublished(0)


def test_a_job_whose_submitter_died_after_publishing_is_not_published_again(
    job_service: JobService, redis_server: RedisServer
) -> None:
    """The submitter published under its claim, then died before saying so in the
    record. Published before its claim runs out, as a submitter does, the task is
    there before any sweep (this one, or another process's on the same Redis) looks."""
    job_id, spec = fresh_job()
    assert job_service.store.create(job_id, spec, "api", "dead-submitter", DEAD_CLAIM_SECONDS)
    publish(job_service, job_id, spec)
    time.sleep(max(DEAD_CLAIM_SECONDS, STRANDED_AFTER_SECONDS) + 0.2)
    assert job_id not in job_service.publish_stranded()
    assert messages(redis_server, spec) == 1
    record = job_service.record(job_id)
    assert record is not None and record.published_at is not None


def test_a_repeat_waits_for_the_submitter_that_is_publishing(
    job_service: JobService, redis_server: RedisServer
) -> None:
    """The repeat neither answers before the task is queued nor publishes a second one."""
    job_id, spec = fresh_job()
    assert job_service.store.create(job_id, spec, "api", "live-submitter", claim_seconds=30)
    repeat = threading.Thread(target=job_service.submit, args=(spec,), kwargs={"job_id": job_id})
    repeat.start()
    time.sleep(0.5)
    assert repeat.is_alive(), "the repeat returned before the job's task was queued"
    publish(job_service, job_id, spec)
    job_service.store.published(job_id)
    repeat.join(5)
    assert not repeat.is_alive()
    assert messages(redis_server, spec) == 1


def test_a_project_job_runs_the_latest_version_unless_it_pins_one() -> None:
    project = Project(name="books", source=ProjectSource.EGG, versions=[deployed("1", "a"), deployed("2", "a", "b")])
    assert runnable_spec(project_spec(), project).version == "2"
    assert runnable_spec(project_spec(version="1"), project).version == "1"
    assert runnable_spec(SPEC, None) == SPEC


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"project": "other"}, "project", "no project 'other'"),
        ({"version": "3"}, "version", "has no version '3'; it has 1, 2"),
        ({"spider": "b", "version": "1"}, "spider", "version '1' has no spider 'b'; its spiders: a"),
    ],
)
def test_a_project_job_naming_what_is_not_deployed_is_refused_naming_the_field(
    fields: dict[str, str], field: str, words: str
) -> None:
    project = Project(name="books", source=ProjectSource.EGG, versions=[deployed("1", "a"), deployed("2", "a", "b")])
    spec = project_spec(**fields)
    with pytest.raises(InvalidSpecError) as refused:
        runnable_spec(spec, project if spec.project == "books" else None)
    assert refused.value.field == field and words in refused.value.message


def test_an_installed_project_runs_only_on_the_queues_that_have_it() -> None:
    pool = InstalledProject(queue="books", settings_module="books.settings", spiders=["a"], announced_at=T0)
    project = Project(name="books", source=ProjectSource.IMAGE, installed=[pool])
    assert runnable_spec(project_spec(queue="books"), project).version is None
    with pytest.raises(InvalidSpecError) as refused:
        runnable_spec(project_spec(), project)
    assert refused.value.field == "queue" and "queue 'books' only" in refused.value.message
    with pytest.raises(InvalidSpecError, match="version"):
        runnable_spec(project_spec(queue="books", version="1"), project)


def deployed(name: str, *spiders: str) -> ProjectVersion:
    return ProjectVersion(
        version=name, spiders=list(spiders), settings_module="books.settings", digest="0" * 64, size=1, uploaded_at=T0
    )


def project_spec(**fields: str) -> JobSpec:
    return JobSpec.model_validate({"project": "books", "spider": "a", **fields})


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


def test_more_shards_than_the_platform_runs_for_a_job_are_refused_naming_the_field_and_the_setting(
    job_service: JobService, settings: Settings, redis_server: RedisServer
) -> None:
    queue = f"q-{uuid.uuid4().hex[:10]}"
    job_id = str(uuid.uuid4())
    too_many = settings.max_shards + 1
    with pytest.raises(InvalidSpecError) as refused:
        job_service.submit(
            SPEC.model_copy(update={"queue": queue, "shards": too_many, "concurrency": too_many}), job_id=job_id
        )
    assert refused.value.field == "shards"
    assert f"at most {settings.max_shards}" in refused.value.message
    assert "CRAWLFLEET_MAX_SHARDS" in refused.value.message
    assert job_service.record(job_id) is None
    assert sum(redis_server.client(0).llen(name) for name in queue_lists(queue)) == 0
