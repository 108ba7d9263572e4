"""The platform a crawl benchmark runs on: a real Redis and one real Celery worker (of
one process unless asked for more), on loopback, torn down afterwards."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.status import JobStatus
from crawlfleet_core.service import JobService
from crawlfleet_core.settings import Settings
from tests.harness.celery_worker import CeleryWorker
from tests.harness.redis_server import RedisServer


@contextmanager
def running_platform(concurrency: int = 1) -> Iterator[JobService]:
    """A job service whose jobs (or shards) a worker on the same Redis runs, `concurrency` at a time."""
    with tempfile.TemporaryDirectory() as scratch:
        redis = RedisServer(Path(scratch) / "redis")
        env = {
            **redis.platform_env(),
            "CRAWLFLEET_ALLOWED_NETWORKS": "127.0.0.0/8",
        }
        os.environ.update(env)
        service = JobService.from_settings(Settings())
        worker = CeleryWorker(service.app, env, Path(scratch) / "logs", concurrency=concurrency)
        try:
            yield service
        finally:
            worker.stop()
            redis.stop()


def run_job(service: JobService, spec: JobSpec) -> tuple[JobStatus, float]:
    """The finished job of `spec`, and the seconds from its submission until it showed finished."""
    submitted = time.perf_counter()
    job_id = service.submit(spec)
    while True:
        status = service.status(job_id)
        if status is not None and status.state.finished:
            return status, time.perf_counter() - submitted
        time.sleep(0.005)
