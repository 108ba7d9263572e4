"""/v1/pools: what the operator reports of each WorkerPool, and each queue's load now."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx

from crawlfleet_core import clock
from crawlfleet_core.resources.workerpools import WorkerPoolSpec, WorkerPoolStatus
from crawlfleet_core.settings import Settings
from crawlfleet_core.store.pools import PoolReport, publish_pool_report
from crawlfleet_core.store.queues import broker_client
from tests.api.conftest import ServeApp


def publish(settings: Settings, report: PoolReport) -> None:
    async def write() -> None:
        client = broker_client(settings.broker_url, settings.redis_sentinel_master)
        try:
            await publish_pool_report(client, report)
        finally:
            await client.aclose()

    asyncio.run(write())


def report(name: str, queue: str, age_seconds: float = 0) -> PoolReport:
    return PoolReport(
        namespace="pools-test",
        name=name,
        spec=WorkerPoolSpec(deployment=name, queue=queue, max_replicas=6, poll_interval_seconds=5),
        status=WorkerPoolStatus(queued=4, in_flight=1, desired_replicas=5, current_replicas=2),
        reported_at=clock.now() - timedelta(seconds=age_seconds),
    )


def test_pools_are_listed_with_their_queues_measured_now(api: httpx.Client, settings: Settings) -> None:
    queue = f"pool-{uuid.uuid4().hex[:8]}"
    name = f"fresh-{uuid.uuid4().hex[:6]}"
    publish(settings, report(name, queue))
    for _ in range(2):
        assert api.post("/v1/jobs", json={"startUrls": ["https://example.com/"], "queue": queue}).status_code == 202
    board = api.get("/v1/pools").json()
    listed = {pool["name"]: pool for pool in board["pools"]}
    assert listed[name]["spec"]["queue"] == queue
    assert listed[name]["status"]["desiredReplicas"] == 5
    queues = {load["queue"]: load for load in board["queues"]}
    assert queues[queue] == {"queue": queue, "queued": 2, "inFlight": 0}
    assert "default" in queues


def test_a_report_several_polls_old_is_left_out(api: httpx.Client, settings: Settings) -> None:
    name = f"stale-{uuid.uuid4().hex[:6]}"
    publish(settings, report(name, "default", age_seconds=60))
    assert name not in {pool["name"] for pool in api.get("/v1/pools").json()["pools"]}


def test_pools_need_a_token_when_tokens_are_on(serve_app: ServeApp) -> None:
    client = serve_app(api_tokens="alpha:alpha-secret-1")
    assert client.get("/v1/pools").status_code == 401
    assert client.get("/v1/pools", headers={"Authorization": "Bearer alpha-secret-1"}).status_code == 200


def test_an_unreachable_broker_is_a_503(serve_app: ServeApp, dead_redis_url: str) -> None:
    response = serve_app(broker_url=dead_redis_url).get("/v1/pools")
    assert response.status_code == 503
