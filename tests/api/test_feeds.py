"""Event streams fanned out: one poller per job serves all of a process's streams on
it; a client's streams are capped and each times out."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.api.conftest import ServeApp
from tests.harness.redis_server import RedisServer

IDLE_SPEC = {"startUrls": ["https://example.com/"], "queue": "nobody-consumes-this"}
STREAMS = 50

Event = tuple[str, dict[str, Any]]


async def read_events(client: httpx.AsyncClient, job_id: str, opened: asyncio.Event | None = None) -> list[Event]:
    """Every event of one stream, until the server ends it."""
    events: list[Event] = []
    async with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        assert response.status_code == 200, await response.aread()
        name, data = "message", ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data += line.removeprefix("data:").strip()
            elif line == "" and data:
                events.append((name, json.loads(data)))
                name, data = "message", ""
                if opened is not None:
                    opened.set()
    return events


def record_reads(redis_server: RedisServer) -> int:
    """HGETALL calls the job store has answered: one per read of a job's status."""
    stats: dict[str, Any] = redis_server.client(2).info("commandstats")
    return int(stats.get("cmdstat_hgetall", {}).get("calls", 0))


def test_many_streams_on_one_job_share_one_poller_and_all_get_the_final_status(
    serve_app: ServeApp, redis_server: RedisServer
) -> None:
    client = serve_app(events_poll_seconds=0.05, events_max_streams_per_client=STREAMS)
    job_id = client.post("/v1/jobs", json=IDLE_SPEC).json()["id"]

    async def follow_then_cancel() -> tuple[list[list[Event]], int]:
        async with httpx.AsyncClient(base_url=str(client.base_url), timeout=30) as streams:
            opened = [asyncio.Event() for _ in range(STREAMS)]
            readers = [asyncio.create_task(read_events(streams, job_id, event)) for event in opened]
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 30)
            before = record_reads(redis_server)
            await asyncio.sleep(1)  # twenty polls with every stream open
            reads = record_reads(redis_server) - before
            assert (await streams.delete(f"/v1/jobs/{job_id}")).status_code == 202
            return await asyncio.wait_for(asyncio.gather(*readers), 30), reads

    received, reads = asyncio.run(follow_then_cancel())
    for events in received:
        assert [name for name, _ in events] == ["status", "status"]
        assert [data["state"] for _, data in events] == ["PENDING", "REVOKED"]
    # One read per poll for the job, not one per stream: 50 streams polling on their own would make ~1000.
    assert reads < STREAMS, reads


def test_a_client_over_its_stream_cap_gets_429_until_it_closes_one(serve_app: ServeApp) -> None:
    client = serve_app(events_max_streams_per_client=2)
    job_id = client.post("/v1/jobs", json=IDLE_SPEC).json()["id"]
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as first:
        assert first.status_code == 200
        with client.stream("GET", f"/v1/jobs/{job_id}/events") as second:
            assert second.status_code == 200
            refused = client.get(f"/v1/jobs/{job_id}/events")
            assert refused.status_code == 429
            assert refused.headers["Retry-After"] == "5"
            assert "CRAWLFLEET_EVENTS_MAX_STREAMS_PER_CLIENT" in refused.json()["detail"]
    # Closed streams give their slots back.
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as again:
        assert again.status_code == 200


def test_a_stream_ends_with_a_timeout_event_after_its_longest_time(serve_app: ServeApp) -> None:
    client = serve_app(events_max_seconds=0.5, events_max_streams_per_client=1)
    job_id = client.post("/v1/jobs", json=IDLE_SPEC).json()["id"]

    async def follow_twice() -> list[list[Event]]:
        async with httpx.AsyncClient(base_url=str(client.base_url), timeout=30) as streams:
            # One after the other: the slot of the stream that timed out is free again.
            return [await read_events(streams, job_id), await read_events(streams, job_id)]

    for events in asyncio.run(follow_twice()):
        assert [name for name, _ in events] == ["status", "timeout"]
        assert events[0][1]["state"] == "PENDING"
        assert "CRAWLFLEET_EVENTS_MAX_SECONDS" in events[1][1]["detail"]
