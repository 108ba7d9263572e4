"""A worker's heartbeat names the tasks it holds, under its pod's name, for as long as it runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from crawlfleet_core.model.states import JobState
from crawlfleet_core.service import JobService
from crawlfleet_core.store.keys import UNACKED, WORKERS, worker_activity_key
from crawlfleet_core.store.workers import heartbeat_tasks
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import Watch, spec
from tests.harness.ports import free_port, wait_until
from tests.harness.redis_server import RedisServer
from tests.harness.website import HeldWebsite


def test_a_worker_names_what_it_holds_until_it_has_drained(
    job_service: JobService, worker_factory: type[CeleryWorker], held_website: HeldWebsite, redis_server: RedisServer
) -> None:
    pod = f"pod-{uuid.uuid4().hex[:8]}"
    worker = worker_factory(queues="activity", concurrency=1, extra_env={"CRAWLFLEET_POD_NAME": pod})
    broker, key = redis_server.client(0), worker_activity_key(pod)
    wait_until(lambda: broker.get(key) is not None, 15, "an idle heartbeat")
    assert heartbeat_tasks(broker.get(key)) == {}
    assert broker.zscore(WORKERS, pod) is not None

    job = spec(startUrls=[held_website.url("/slow/0")], maxPages=3, concurrency=1, queue="activity")
    watch = Watch(job_service, job_service.submit(job))
    wait_until(lambda: heartbeat_tasks(broker.get(key)), 15, "a busy heartbeat")
    ((delivery_tag, task_id),) = heartbeat_tasks(broker.get(key)).items()
    assert task_id == watch.job_id
    assert broker.hexists(UNACKED, delivery_tag), "the heartbeat names a delivery kombu does not hold"

    # A warm shutdown waits for the held crawl; the worker goes on reporting it meanwhile.
    os.kill(worker.process.pid, signal.SIGTERM)
    wait_until(lambda: "Warm shutdown" in worker.log_path.read_text(), 15, "the warm shutdown to begin")
    before = broker.pttl(key)
    wait_until(lambda: broker.pttl(key) > before, 15, "a heartbeat while the worker drains")
    assert set(heartbeat_tasks(broker.get(key)).values()) == {watch.job_id}

    held_website.release()
    assert watch.finished(30).state is JobState.SUCCESS
    assert worker.process.wait(30) == 0
    assert broker.get(key) is None, "the stopped worker left its heartbeat behind"
    assert broker.zscore(WORKERS, pod) is None


def test_a_worker_stopped_before_it_reached_its_broker_exits_cleanly(
    platform_env: dict[str, str], tmp_path: Path
) -> None:
    """Its consumer never started, so there is no report to clear."""
    log = tmp_path / "worker.log"
    env = {**os.environ, **platform_env, "CRAWLFLEET_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    command = [sys.executable, "-m", "celery", "-A", "crawlfleet_workers.app", "worker", "-c", "1", "--without-mingle"]
    with log.open("wb") as output:
        worker = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "Cannot connect" in log.read_text(), 60, "the worker to try its broker")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
    assert "Traceback" not in log.read_text()


def test_two_workers_on_one_host_without_a_pod_name_each_name_their_own_tasks(
    job_service: JobService, worker_factory: type[CeleryWorker], held_website: HeldWebsite, redis_server: RedisServer
) -> None:
    """Without CRAWLFLEET_POD_NAME a worker heartbeats under its Celery node name, so a
    second worker on the host never overwrites what the first says it holds."""
    workers = [worker_factory(queues=f"own-{n}", concurrency=1, extra_env={"CRAWLFLEET_POD_NAME": ""}) for n in (0, 1)]
    broker = redis_server.client(0)
    jobs = [
        job_service.submit(spec(startUrls=[held_website.url("/slow/0")], maxPages=3, concurrency=1, queue=f"own-{n}"))
        for n in (0, 1)
    ]
    for worker, job_id in zip(workers, jobs, strict=True):
        key = worker_activity_key(worker.name)
        wait_until(lambda key=key: heartbeat_tasks(broker.get(key)), 15, f"{worker.name} to name its task")
        assert set(heartbeat_tasks(broker.get(key)).values()) == {job_id}
        record = job_service.record(job_id)
        assert record is not None and record.worker == worker.name
    held_website.release()
    for job_id in jobs:
        assert Watch(job_service, job_id).finished(30).state is JobState.SUCCESS
