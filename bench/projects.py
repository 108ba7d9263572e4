"""A team's deployed Scrapy project on the fleet: how soon its spider starts, and
how a batch of its jobs compares with Scrapyd itself. Prints figures; never
pass/fail. Run: `python -m bench.projects` (or through `python -m bench`).

1. Submit -> first HTTP request of the suite's project's `page` spider, deployed as
   an egg, on an idle worker (p50/p95 over TRIALS; the goal is p50 <= 50 ms): the egg
   comes from the worker's disk cache and is imported in the forked crawl. The
   baseline, measured in the same run on the same worker, is the built-in spider's
   one-page job: the ratio is what running a team's own code costs.
2. 40 one-page jobs of that spider, end to end (first schedule.json to the last job
   finished in listjobs.json), on crawlfleet and on Scrapyd itself. Scrapyd comes
   from PyPI into a virtualenv of the bench's own (`bench/.scrapyd-venv`, made on first
   use), runs on loopback with its default settings but a free port, and gets the same
   egg, the same local site and the same client code. crawlfleet runs one worker with
   as many crawl slots as Scrapyd's default (`max_proc_per_cpu` 4 per CPU). Both wall
   times and their ratio are printed."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx

from bench.first_request import percentile
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.service import JobService
from crawlfleet_core.settings import Settings
from tests.harness.celery_worker import CeleryWorker
from tests.harness.ports import free_port, wait_until
from tests.harness.projects import PROJECT, build_egg, deploy, project_copy
from tests.harness.redis_server import RedisServer
from tests.harness.website import Website

TRIALS = 20
BATCH = 40
SCRAPYD_VERSION = "1.6.0"
SCRAPYD_VENV = Path(__file__).resolve().parent / ".scrapyd-venv"
# Scrapyd's default number of crawl processes: max_proc_per_cpu (4) per CPU.
SLOTS = 4 * (os.cpu_count() or 1)


def scrapyd_python() -> Path:
    """Scrapyd's own virtualenv, kept out of the project's dependencies."""
    python = SCRAPYD_VENV / "bin" / "python"
    if not (SCRAPYD_VENV / "bin" / "scrapyd").exists():
        subprocess.run([sys.executable, "-m", "venv", str(SCRAPYD_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"scrapyd=={SCRAPYD_VERSION}"], check=True)
    return python


@contextmanager
def serving(command: Callable[[int], list[str]], health: str, directory: Path, env: dict[str, str]) -> Iterator[str]:
    """The server `command(port)` starts, on a free loopback port, until the block ends."""
    port = free_port()
    with (directory / "server.log").open("wb") as log:
        process = subprocess.Popen(
            command(port), cwd=directory, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(url + health).status_code == 200, 60, f"the server of {directory} to answer")
        yield url
    finally:
        process.terminate()
        process.wait(30)


def scrapyd(directory: Path) -> AbstractContextManager[str]:
    """Scrapyd on loopback with its default settings, its files in `directory`."""
    directory.mkdir(parents=True)

    def command(port: int) -> list[str]:
        # Only the port differs from the defaults: another process here may hold 6800.
        (directory / "scrapyd.conf").write_text(f"[scrapyd]\nhttp_port = {port}\n")
        return [str(scrapyd_python()), "-m", "scrapyd"]

    return serving(command, "/daemonstatus.json", directory, {})


def crawlfleet_api(directory: Path, env: dict[str, str]) -> AbstractContextManager[str]:
    """The `crawlfleet-api` command, as a container runs it."""
    executable = str(Path(sys.executable).parent / "crawlfleet-api")
    return serving(lambda port: [executable, "--port", str(port)], "/healthz", directory, env)


def batch_seconds(url: str, egg: Path, site: Website) -> float:
    """Deploy `egg` with addversion.json, schedule BATCH one-page jobs, wait for all to finish."""
    with httpx.Client(base_url=url, timeout=60) as client:
        deployed = client.post(
            "/addversion.json", data={"project": PROJECT, "version": "1.0"}, files={"egg": egg.read_bytes()}
        )
        assert deployed.json()["status"] == "ok", deployed.text
        started = time.monotonic()
        for index in range(BATCH):
            job = {"project": PROJECT, "spider": "page", "url": site.url(f"/page/{index % site.size}")}
            assert client.post("/schedule.json", data=job).json()["status"] == "ok"
        while len(client.get("/listjobs.json", params={"project": PROJECT}).json()["finished"]) < BATCH:
            time.sleep(0.05)
        return time.monotonic() - started


def first_request_seconds(service: JobService, site: Website, spec: Callable[[str], JobSpec], tenant: str) -> float:
    """Submit -> the job's first request to the site, then wait for the job to end."""
    before = len(site.requests)
    submitted = time.time()
    job_id = service.submit(spec(site.url("/page/1")), tenant=tenant)
    while not ((status := service.status(job_id)) and status.state.finished):
        time.sleep(0.005)
    return site.requests[before][0] - submitted


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        redis = RedisServer(scratch / "redis")
        site = Website()
        env = {
            **redis.platform_env(),
            "CRAWLFLEET_ALLOWED_NETWORKS": "127.0.0.0/8",
            "CRAWLFLEET_EGG_CACHE_DIR": str(scratch / "eggs"),
        }
        os.environ.update(env)
        service = JobService.from_settings(Settings())
        egg = build_egg(project_copy(scratch), scratch / "pricewatch.egg")
        tenant = "bench"
        deploy(service.projects, tenant, "1.0", egg)

        def project_job(url: str) -> JobSpec:
            return JobSpec.model_validate({"project": PROJECT, "spider": "page", "spiderArgs": {"url": url}})

        def built_in_job(url: str) -> JobSpec:
            return JobSpec.model_validate({"startUrls": [url], "followLinks": False})

        try:
            worker = CeleryWorker(service.app, env, scratch / "logs", concurrency=1)
            try:
                first_job = first_request_seconds(service, site, project_job, tenant)
                project: list[float] = []
                built_in: list[float] = []
                for _ in range(TRIALS):
                    time.sleep(0.2)  # an idle worker for each trial
                    project.append(first_request_seconds(service, site, project_job, tenant))
                    time.sleep(0.2)
                    built_in.append(first_request_seconds(service, site, built_in_job, tenant))
            finally:
                worker.stop()
            worker = CeleryWorker(service.app, env, scratch / "logs", concurrency=SLOTS)
            try:
                with crawlfleet_api(scratch, env) as url:
                    ours = batch_seconds(url, egg, site)
            finally:
                worker.stop()
            with scrapyd(scratch / "scrapyd") as url:
                theirs = batch_seconds(url, egg, site)
        finally:
            site.stop()
            redis.stop()
    p50, baseline = percentile(project, 0.5), statistics.median(built_in)
    print(f"submit -> first HTTP request of a deployed project's spider, idle worker, {TRIALS} trials:")
    print(f"  p50 {p50 * 1000:.0f} ms   p95 {percentile(project, 0.95) * 1000:.0f} ms   (goal: p50 <= 50 ms)")
    print(f"  first job after the deployment (egg fetched from Redis into the cache): {first_job * 1000:.0f} ms")
    print(f"baseline, the built-in spider's one-page job on the same worker: p50 {baseline * 1000:.0f} ms")
    print(f"ratio project p50 / built-in p50: {p50 / baseline:.2f}x")
    print(f"{BATCH} one-page jobs of the deployed spider, end to end ({SLOTS} crawl slots each):")
    print(f"  crawlfleet {ours:.1f} s   Scrapyd {SCRAPYD_VERSION} {theirs:.1f} s")
    print(f"  ratio Scrapyd / crawlfleet: {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
