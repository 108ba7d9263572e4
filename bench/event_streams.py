"""Open event streams against everything else the API serves. Prints figures; never
pass/fail.

One `crawlfleet-api` process, one job that stays PENDING (nothing consumes its
queue). `hey` measures `GET /v1/jobs/{id}` idle, the baseline, then again while 500
`/v1/jobs/{id}/events` streams follow the job (opened from this process, read to
the end). With one poller per job, the streams cost one status read per poll
interval; each polling on its own, they cost 500.

The goal: GET p95 with 500 streams open at most 2 times the idle figure. Run:
`python -m bench.event_streams` (or through `python -m bench`)."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from pathlib import Path

import httpx

from bench.api_throughput import hey
from bench.figures import percentile
from tests.harness.api_process import ApiProcess
from tests.harness.redis_server import RedisServer

STREAMS = 500
SECONDS = 10


class OpenStreams:
    """`count` event streams on one job, held open in a thread of their own until closed."""

    def __init__(self, url: str, job_id: str, count: int) -> None:
        self.url, self.job_id, self.count = url, job_id, count
        self.opened = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._hold(),), daemon=True)
        self._closing: asyncio.Event | None = None
        self.thread.start()
        if not self.opened.wait(60):
            raise RuntimeError(f"{count} event streams did not open within 60 s")

    async def _hold(self) -> None:
        self._closing = asyncio.Event()
        limits = httpx.Limits(max_connections=self.count + 10)
        async with httpx.AsyncClient(base_url=self.url, timeout=60, limits=limits) as client:
            first_events = [asyncio.Event() for _ in range(self.count)]
            readers = [asyncio.create_task(self._read(client, event)) for event in first_events]
            await asyncio.gather(*(event.wait() for event in first_events))
            self.opened.set()
            await self._closing.wait()
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

    async def _read(self, client: httpx.AsyncClient, first: asyncio.Event) -> None:
        async with client.stream("GET", f"/v1/jobs/{self.job_id}/events") as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    first.set()

    def close(self) -> None:
        assert self._closing is not None
        self.loop.call_soon_threadsafe(self._closing.set)
        self.thread.join(60)


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        redis = RedisServer(scratch / "redis")
        env = {
            **redis.platform_env(),
            "CRAWLFLEET_EXTRA_QUEUES": "nobody-consumes-this",
            # The bench is one client holding them all.
            "CRAWLFLEET_EVENTS_MAX_STREAMS_PER_CLIENT": str(STREAMS),
        }
        api = ApiProcess(env, scratch / "api.log")
        try:
            job = httpx.post(
                f"{api.url}/v1/jobs", json={"startUrls": ["https://example.com/"], "queue": "nobody-consumes-this"}
            ).json()
            url = f"{api.url}/v1/jobs/{job['id']}"
            idle = hey(url, SECONDS, post=False)
            streams = OpenStreams(api.url, job["id"], STREAMS)
            try:
                busy = hey(url, SECONDS, post=False)
            finally:
                streams.close()
        finally:
            api.stop()
            redis.stop()
    idle_p95, busy_p95 = percentile(idle.latencies, 0.95), percentile(busy.latencies, 0.95)
    print(f"GET /v1/jobs/{{id}}, idle:                  {idle.describe()}  p95 {idle_p95 * 1000:.1f} ms")
    print(f"GET /v1/jobs/{{id}}, {STREAMS} streams open:  {busy.describe()}  p95 {busy_p95 * 1000:.1f} ms")
    print(f"p95 with {STREAMS} streams / idle p95:       {busy_p95 / idle_p95:.2f} (goal <= 2)")


if __name__ == "__main__":
    main()
