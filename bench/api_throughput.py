"""The API's front door: how fast one `crawlfleet-api` process accepts jobs, against
the publish it exists for. Prints figures; never pass/fail.

In one run, against one Redis of its own (nothing consumes the queue):

1. the raw rate: Celery's own `send_task` of the same crawl task, one process, back
   to back, what the API would manage if HTTP, validation and the job record cost
   nothing;
2. `GET /healthz` and `POST /v1/jobs` at full speed, from `hey` (a load generator in
   its own process) over 16 connections: requests per second;
3. `POST /v1/jobs` at a fixed 200 requests per second: p50 and p99;
4. where the time goes: py-spy samples every thread of the API process while it
   serves `POST /v1/jobs` at full speed; the functions of the platform holding the
   most samples are listed.

The goal: one API process serves at least 0.6 times the raw rate, with p99 at most
50 ms at 200 req/s. Run: `python -m bench.api_throughput` (or through `python -m bench`)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.figures import percentile
from crawlfleet_core.celery_app import CRAWL_TASK, create_celery_app
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.settings import Settings
from tests.harness.api_process import ApiProcess
from tests.harness.redis_server import RedisServer

SECONDS = 10
CONNECTIONS = 16
FIXED_RATE = 200
RAW_PUBLISHES = 3000
PROFILE_SECONDS = 8
PROFILE_LINES = 25
ROOT_SHARE = 0.6
WAITING_FRAMES = ("Condition.wait", "Runner.run", "BaseSelector", "EpollSelector.select", "_worker (concurrent")
SPEC = {"startUrls": ["https://example.com/"], "maxPages": 5}


@dataclass(frozen=True)
class Load:
    """What `hey` saw: requests per second, latencies in seconds, statuses."""

    rate: float
    latencies: list[float]
    statuses: Counter[str]

    def describe(self) -> str:
        p50, p99 = percentile(self.latencies, 0.5) * 1000, percentile(self.latencies, 0.99) * 1000
        statuses = ", ".join(f"{count} x {status}" for status, count in sorted(self.statuses.items()))
        return f"{self.rate:7.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  ({statuses})"


def hey(url: str, seconds: float, post: bool, per_connection_rate: float | None = None) -> Load:
    """Run `hey` against `url`; every request's latency and status from its CSV output."""
    binary = shutil.which("hey")
    if binary is None:
        raise RuntimeError("the load generator `hey` is missing: `make bench` installs it (apt-get install hey)")
    command = [binary, "-z", f"{seconds}s", "-c", str(CONNECTIONS), "-o", "csv"]
    if post:
        command += ["-m", "POST", "-T", "application/json", "-d", json.dumps(SPEC)]
    if per_connection_rate is not None:
        command += ["-q", str(per_connection_rate)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rows = list(csv.DictReader(io.StringIO(output)))
    latencies = [float(row["response-time"]) for row in rows]
    offsets = [float(row["offset"]) for row in rows]
    return Load(len(rows) / max(offsets), latencies, Counter(row["status-code"] for row in rows))


def raw_publish_rate(settings: Settings) -> float:
    """`send_task` of the crawl task with the arguments the API sends, back to back."""
    app = create_celery_app(settings)
    args = [JobSpec.model_validate(SPEC).model_dump(mode="json", by_alias=True)]
    app.send_task(CRAWL_TASK, args=args, queue="default")  # connects
    started = time.perf_counter()
    for _ in range(RAW_PUBLISHES):
        app.send_task(CRAWL_TASK, args=args, queue="default", priority=4)
    rate = RAW_PUBLISHES / (time.perf_counter() - started)
    app.close()
    return rate


def profile(api: ApiProcess, scratch: Path) -> list[tuple[str, float]]:
    """The functions holding the most busy samples (callees included) while the API serves POSTs."""
    binary = str(Path(sys.executable).parent / "py-spy")
    out = scratch / "profile.txt"
    spy = subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(api.process.pid),
            "--duration",
            str(PROFILE_SECONDS),
            "--format",
            "raw",
            "--threads",
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    hey(f"{api.url}/v1/jobs", PROFILE_SECONDS, post=True)
    spy.wait(60)
    inclusive: Counter[str] = Counter()
    busy = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if frames[-1].startswith(WAITING_FRAMES):
            continue  # a thread of the pool, or the event loop, with nothing to do
        busy += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    # Frames in nearly every sample are the server's and the threads' roots: they say nothing.
    telling = [(frame, samples / busy) for frame, samples in inclusive.most_common() if samples / busy < ROOT_SHARE]
    return telling[:PROFILE_LINES]


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        redis = RedisServer(scratch / "redis")
        env = {
            **redis.platform_env(),
        }
        settings = Settings(broker_url=env["CRAWLFLEET_BROKER_URL"], result_backend=env["CRAWLFLEET_RESULT_BACKEND"])
        api = ApiProcess(env, scratch / "api.log")
        try:
            raw = raw_publish_rate(settings)
            health = hey(f"{api.url}/healthz", SECONDS, post=False)
            submit = hey(f"{api.url}/v1/jobs", SECONDS, post=True)
            fixed = hey(f"{api.url}/v1/jobs", SECONDS, post=True, per_connection_rate=FIXED_RATE / CONNECTIONS)
            hot = profile(api, scratch)
        finally:
            api.stop()
            redis.stop()
    print(f"raw send_task, one process:       {raw:7.0f} publishes/s ({1000 / raw:.2f} ms each)")
    print(f"GET /healthz, {CONNECTIONS} connections:     {health.describe()}")
    print(f"POST /v1/jobs, {CONNECTIONS} connections:    {submit.describe()}")
    print(f"POST /v1/jobs at {FIXED_RATE} req/s:         {fixed.describe()}")
    print(f"POST /v1/jobs / raw send_task:    {submit.rate / raw:.2f} (goal >= 0.6)")
    print(f"POST /v1/jobs / GET /healthz:     {submit.rate / health.rate:.2f}")
    print("where POST /v1/jobs spends its time (share of busy samples, callees included):")
    for frame, share in hot:
        print(f"  {share:6.1%}  {frame}")


if __name__ == "__main__":
    main()
