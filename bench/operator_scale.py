"""The operator at scale: 2,000 one-page ScrapeJobs created at once, against the same
2,000 jobs submitted through the API, in one run. Prints figures; never pass/fail.

Both paths end in the same workers (real Celery workers crawling a real local site)
and are timed from the first submission to the last job finished: the API path until
every job's record says it finished, the ScrapeJob path until every ScrapeJob's
status says Succeeded, as a list of them shows it. The API path runs first, so the
ScrapeJob path finds the workers warm. The operator's resident memory is sampled
every 0.2 s while it works.

The goal: the ScrapeJob path takes at most 1.2 times the API path, and the operator
stays at or under 200 MB. Run: `python -m bench.operator_scale` (or through
`python -m bench`)."""

from __future__ import annotations

import ssl
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis

from crawlfleet_core.celery_app import create_celery_app
from crawlfleet_core.settings import Settings
from crawlfleet_core.store.keys import job_record
from tests.harness.api_process import ApiProcess
from tests.harness.celery_worker import CeleryWorker
from tests.harness.control_plane import ControlPlane
from tests.harness.redis_server import RedisServer
from tests.harness.website import Website
from tests.operator.test_handlers import NAMESPACE_PREFIX, REPO_ROOT, Operator

JOBS = 2000
WORKER_CONCURRENCY = 8
SUBMITTERS = 16
TIMEOUT_SECONDS = 1800
# Listing 2,000 objects costs the API server too: often enough to time the path, no more.
LIST_INTERVAL_SECONDS = 3


def job_specs(website: Website) -> list[dict[str, Any]]:
    return [
        {"startUrls": [website.url(f"/page/{index % 15}")], "maxPages": 1, "followLinks": False, "obeyRobotsTxt": False}
        for index in range(JOBS)
    ]


def through_the_api(api: ApiProcess, store: redis.Redis, specs: list[dict[str, Any]]) -> float:
    """Seconds from the first POST to the last job finished."""
    started = time.monotonic()
    with httpx.Client(base_url=api.url, timeout=60) as client, ThreadPoolExecutor(SUBMITTERS) as pool:
        ids = list(pool.map(lambda spec: client.post("/v1/jobs", json=spec).raise_for_status().json()["id"], specs))
    while time.monotonic() - started < TIMEOUT_SECONDS:
        pipe = store.pipeline(transaction=False)
        for job_id in ids:
            pipe.hexists(job_record(job_id), "finished_at")
        if all(pipe.execute()):
            return time.monotonic() - started
        time.sleep(0.5)
    raise RuntimeError(f"the API's {JOBS} jobs did not finish within {TIMEOUT_SECONDS} s")


def scrapejob(index: int, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "crawlfleet.io/v1alpha1",
        "kind": "ScrapeJob",
        "metadata": {"name": f"page-{index}"},
        "spec": spec,
    }


def kubernetes_client(plane: ControlPlane) -> httpx.Client:
    """A client of the API server with the admin's certificate, as kubectl has."""
    if plane.credentials is None:
        raise RuntimeError("the benchmark starts its own control plane")
    certificate = (str(plane.credentials.path("admin.crt")), str(plane.credentials.path("admin.key")))
    context = ssl.create_default_context(cafile=plane.credentials.path("ca.crt"))
    context.load_cert_chain(*certificate)
    return httpx.Client(base_url=plane.server_url, verify=context, timeout=60)


def succeeded(client: httpx.Client, path: str) -> int | None:
    """How many ScrapeJobs under `path` say Succeeded; None while the API server is too busy to list them."""
    try:
        response = client.get(path)
    except httpx.TimeoutException:
        return None  # busy with the operator's status writes: ask again at the next round
    if response.status_code != httpx.codes.OK:
        return None  # e.g. its watch cache lagging behind the writes
    return sum(item.get("status", {}).get("phase") == "Succeeded" for item in response.json()["items"])


class PeakMemory:
    """The highest resident memory of a process, sampled until stopped or it ends."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.NoSuchProcess:
                return

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def as_scrapejob_objects(plane: ControlPlane, operator: Operator, specs: list[dict[str, Any]]) -> tuple[float, int]:
    """Seconds from creating every ScrapeJob (16 at a time, as fast as the API server
    takes them) to the last one Succeeded, and the operator's peak RSS."""
    namespace = f"{NAMESPACE_PREFIX}bench"
    plane.kubectl("create", "namespace", namespace)
    path = f"/apis/crawlfleet.io/v1alpha1/namespaces/{namespace}/scrapejobs"
    memory = PeakMemory(operator.process.pid)
    started = time.monotonic()
    with kubernetes_client(plane) as client:
        with ThreadPoolExecutor(SUBMITTERS) as pool:
            list(pool.map(lambda item: client.post(path, json=scrapejob(*item)).raise_for_status(), enumerate(specs)))
        while time.monotonic() - started < TIMEOUT_SECONDS:
            if succeeded(client, path) == JOBS:
                return time.monotonic() - started, memory.stop()
            time.sleep(LIST_INTERVAL_SECONDS)
    raise RuntimeError(f"the {JOBS} ScrapeJobs did not succeed within {TIMEOUT_SECONDS} s")


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        redis_server = RedisServer(scratch / "redis")
        website = Website()
        plane = ControlPlane.start(scratch / "control-plane")
        env = {
            **redis_server.platform_env(),
            "CRAWLFLEET_ALLOWED_NETWORKS": "127.0.0.0/8",
        }
        settings = Settings(broker_url=env["CRAWLFLEET_BROKER_URL"], result_backend=env["CRAWLFLEET_RESULT_BACKEND"])
        app = create_celery_app(settings)
        worker = api = operator = None
        try:
            plane.kubectl("apply", "--server-side", "-f", str(REPO_ROOT / "manifests" / "crds"))
            plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
            worker = CeleryWorker(app, env, scratch / "workers", concurrency=WORKER_CONCURRENCY)
            api = ApiProcess(env, scratch / "api.log")
            specs = job_specs(website)
            api_seconds = through_the_api(api, redis_server.client(2), specs)
            print(f"{JOBS} one-page jobs through the API:   {api_seconds:6.1f} s  ({JOBS / api_seconds:5.1f} jobs/s)")
            operator = Operator(plane, env, scratch / "operator.log")
            sj_seconds, peak = as_scrapejob_objects(plane, operator, specs)
        finally:
            for running in (operator, api, worker):
                if running is not None:
                    running.stop()
            plane.stop()
            website.stop()
            redis_server.stop()
    print(f"{JOBS} one-page ScrapeJobs:             {sj_seconds:6.1f} s  ({JOBS / sj_seconds:5.1f} jobs/s)")
    print(f"ScrapeJob path / API path:            {sj_seconds / api_seconds:.2f} (goal <= 1.2)")
    print(f"operator peak RSS:                    {peak / 2**20:6.0f} MB (goal <= 200)")


if __name__ == "__main__":
    main()
