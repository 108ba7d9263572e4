"""How fast a job's 100k items download, and what it costs the API's memory. Prints
figures; never pass/fail.

The baseline, measured in the same run, is what a client does without the export:
read every page of `GET /v1/jobs/{id}/items` (1000 items a page, the most allowed)
and write each item out as a JSON line. Run: `python -m bench.exports`."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.service import JobService
from crawlfleet_core.settings import Settings
from tests.api.conftest import ApiProcess
from tests.harness.redis_server import RedisServer

ITEMS = 100_000
ITEM_TEXT = 480


def peak_rss_during(pid: int, action: threading.Thread) -> int:
    process = psutil.Process(pid)
    peak = process.memory_info().rss
    action.start()
    while action.is_alive():
        peak = max(peak, process.memory_info().rss)
        time.sleep(0.01)
    return peak


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        redis = RedisServer(Path(scratch) / "redis")
        env = {
            "CRAWLFLEET_BROKER_URL": redis.url(0),
            "CRAWLFLEET_RESULT_BACKEND": redis.url(1),
            "CRAWLFLEET_JOB_STORE_URL": redis.url(2),
        }
        os.environ.update(env)
        service = JobService.from_settings(Settings())
        job_id = "bench-export"
        service.store.create(job_id, JobSpec(start_urls=["https://example.com/"], queue="nobody"), "api", "bench", 30)
        items = [
            (str(i), {"url": f"https://example.com/{i}", "text": f"{i:08d}" + "x" * ITEM_TEXT}) for i in range(ITEMS)
        ]
        for start in range(0, ITEMS, 5000):
            service.store.append_items(job_id, items[start : start + 5000])
        del items
        api = ApiProcess(env, Path(scratch) / "api.log")
        client = httpx.Client(base_url=api.url, timeout=120)
        try:
            client.get(f"/v1/jobs/{job_id}/items", params={"limit": 10})
            baseline_rss = psutil.Process(api.process.pid).memory_info().rss
            timings: dict[str, float] = {}
            peaks: dict[str, int] = {}

            def export() -> None:
                start = time.perf_counter()
                with client.stream("GET", f"/v1/jobs/{job_id}/items.jsonl") as response:
                    lines = sum(1 for _ in response.iter_lines())
                assert lines == ITEMS
                timings["export"] = time.perf_counter() - start

            def pages() -> None:
                start = time.perf_counter()
                cursor, lines = None, 0
                while True:
                    params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
                    page = client.get(f"/v1/jobs/{job_id}/items", params=params).json()
                    lines += len("".join(json.dumps(item) + "\n" for item in page["items"]).splitlines())
                    if not page["hasMore"]:
                        break
                    cursor = page["nextCursor"]
                assert lines == ITEMS
                timings["pages"] = time.perf_counter() - start

            for name, action in (("export", export), ("pages", pages)):
                peaks[name] = peak_rss_during(api.process.pid, threading.Thread(target=action))
        finally:
            client.close()
            api.stop()
            redis.stop()
    megabytes = ITEMS * (ITEM_TEXT + 45) / 1e6
    print(f"{ITEMS} items, about {megabytes:.0f} MB of JSON Lines")
    for name, label in (("pages", "baseline: every page of /items"), ("export", "items.jsonl")):
        print(
            f"{label:32} {timings[name]:6.2f} s  {ITEMS / timings[name]:9.0f} items/s"
            f"  API memory growth {(peaks[name] - baseline_rss) / 2**20:6.1f} MiB"
        )
    print(f"items.jsonl takes {timings['export'] / timings['pages']:.2f}x the baseline's time")


if __name__ == "__main__":
    main()
