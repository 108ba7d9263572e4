"""Redis Sentinel end to end: broker, result backend and job store behind real
sentinels, a real API process and real workers on sentinel:// URLs; the primary is
SIGKILLed while jobs run, a replica is promoted, and the platform carries on with no
job lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crawlfleet_core.model.states import JobState
from crawlfleet_core.service import JobService
from crawlfleet_core.store.queues import QueueDepth, QueueGauge, broker_client
from tests.api.conftest import ApiProcess
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import spec
from tests.harness.platform import production_env, production_settings
from tests.harness.ports import wait_until
from tests.harness.sentinel import MASTER_NAME, SentinelGroup
from tests.harness.website import Website

JOBS_BEFORE = 6
JOBS_AFTER = 4
PAGES = 8


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path / "redis")
    yield group
    group.stop()


@pytest.fixture
def site() -> Iterator[Website]:
    site = Website(slow_delay=0.3)
    yield site
    site.stop()


async def measure(url: str) -> QueueDepth:
    gauge = QueueGauge(broker_client(url, MASTER_NAME))
    try:
        return (await gauge.depths(["default"]))["default"]
    finally:
        await gauge.client.aclose()


def test_the_platform_carries_on_with_no_job_lost_when_the_redis_primary_dies(
    sentinels: SentinelGroup, site: Website, tmp_path: Path
) -> None:
    env = {
        **production_env(sentinels.url(0), sentinels.url(1), sentinels.url(2)),
        "CRAWLFLEET_REDIS_SENTINEL_MASTER": MASTER_NAME,
    }
    service = JobService.from_settings(production_settings(env))
    api = ApiProcess(env, tmp_path / "api.log")
    workers = [
        CeleryWorker(
            service.app, env, tmp_path / "workers", concurrency=3, extra_env={"CRAWLFLEET_POD_NAME": f"pod-{n}"}
        )
        for n in range(2)
    ]
    try:
        sentinels.ready_to_fail_over()
        assert httpx.get(f"{api.url}/readyz").status_code == 200

        def submit(n: int) -> str:
            start = site.url(f"/slow/{1000 * n}")
            return service.submit(spec(startUrls=[start], maxPages=PAGES, maxDepth=100, concurrency=1))

        jobs = [submit(n) for n in range(JOBS_BEFORE)]

        def running() -> int:
            return sum(
                status.state is JobState.PROGRESS for job_id in jobs if (status := service.status(job_id)) is not None
            )

        wait_until(lambda: running() >= 4, 60, "jobs to be crawling")
        sentinels.kill_primary()
        wait_until(sentinels.failed_over, 60, "the sentinels to promote the replica")

        jobs += [submit(n) for n in range(JOBS_BEFORE, JOBS_BEFORE + JOBS_AFTER)]

        def finished() -> bool:
            return all(status.state.finished for job_id in jobs if (status := service.status(job_id)) is not None)

        wait_until(finished, 180, "every job to finish", interval=0.5)
        states = {job_id: status.state if (status := service.status(job_id)) else None for job_id in jobs}
        errors = {job_id: status.error for job_id in jobs if (status := service.status(job_id)) and status.error}
        assert list(states.values()) == [JobState.SUCCESS] * len(jobs), errors
        assert httpx.get(f"{api.url}/readyz").status_code == 200
        assert asyncio.run(measure(sentinels.url(0))) == QueueDepth(waiting=0, in_flight=0)
    finally:
        for worker in workers:
            worker.stop()
        api.stop()
