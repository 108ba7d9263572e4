"""Operator start to first reconcile: how long a restarted, upgraded or newly active
operator leaves the platform unmanaged. Prints figures; never pass/fail.

Against a real API server with the chart installed (namespaced, its defaults) and
its operator run under the chart's own ServiceAccount token (`tests.harness.pods`),
with a real Redis. Each trial stops the operator, creates a ScrapeJob and scales the
pool's Deployment away from minReplicas, then spawns the operator process; measured
from the spawn: `/readyz` answering 200, the ScrapeJob submitted (`status.jobId`),
the Deployment set back to minReplicas. The goal is the first reconcile within 5 s.

Baseline, measured in the same run (one trial: it takes about a minute): the same
operator with kopf left to list namespaces, which the namespaced Role refuses, as it
ran before it was told its namespace up front.

Run: `python -m bench.operator_start` (or through `python -m bench`)."""

from __future__ import annotations

import statistics
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.autoscale import ScaleReader
from tests.harness.control_plane import ControlPlane
from tests.harness.helm import Helm
from tests.harness.pods import Pod
from tests.harness.ports import free_port
from tests.harness.redis_server import RedisServer
from tests.harness.releases import OPERATOR_PODS, Release, scrapejob

TRIALS = 5
MIN_REPLICAS = 2
POLL_SECONDS = 0.02
# The operator as it ran before: the same, but kopf lists namespaces to find its own.
LISTING_NAMESPACES = """
import crawlfleet_operator.__main__ as entry

configure = entry.configure_kopf


def listing_namespaces(settings, config, **options):
    configure(settings, config, **options)
    settings.scanning.disabled = False


entry.configure_kopf = listing_namespaces
entry.main()
"""


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def trial(
    release: Release, pod: Pod, reader: ScaleReader, number: int, args: list[str] | None = None
) -> dict[str, float]:
    """Seconds from the operator's spawn to each first sign of it reconciling."""
    namespace, deployment = release.namespace, f"{release.fullname}-worker-default"
    # Below minReplicas but not at zero, from where only waiting work would wake the pool.
    release.kubectl("scale", f"deployment/{deployment}", f"--replicas={MIN_REPLICAS - 1}")
    name = f"start-{number}"
    # On a queue of its own: the jobs wait there, out of the pool's measure.
    release.apply(scrapejob(name, queue="unpooled"))
    health = free_port()
    process = release.pods.start(
        pod, {"CRAWLFLEET_OPERATOR_HEALTH_PORT": str(health), "CRAWLFLEET_OPERATOR_METRICS_PORT": "0"}, args
    )
    scrapejob_path = f"/apis/crawlfleet.io/v1alpha1/namespaces/{namespace}/scrapejobs/{name}"
    signs: dict[str, Callable[[], bool]] = {
        "ready": lambda: ready(health),
        "scrapejob": lambda: bool(reader.get(scrapejob_path).get("status", {}).get("jobId")),
        "pool": lambda: reader.replicas(namespace, deployment) == MIN_REPLICAS,
    }
    seen: dict[str, float] = {}
    try:
        deadline = process.spawned_at + 180
        while len(seen) < len(signs) and time.monotonic() < deadline:
            for sign, check in signs.items():
                if sign not in seen and check():
                    seen[sign] = time.monotonic() - process.spawned_at
            time.sleep(POLL_SECONDS)
    finally:
        process.stop()
    missing = set(signs) - set(seen)
    if missing:
        raise TimeoutError(f"no {missing} within 180 s; the operator's log: {process.log_path}")
    return seen


def summary(values: list[float]) -> str:
    return f"p50 {statistics.median(values):.2f} s, max {max(values):.2f} s"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="crawlfleet-bench-start-") as scratch:
        directory = Path(scratch)
        redis = RedisServer(directory / "redis")
        plane = ControlPlane.start(directory / "k8s")
        release = Release(plane, Helm.find(), redis, directory, name="bench", namespace="bench-start", first_database=0)
        try:
            pool = {"name": "default", "queue": "default", "concurrency": 1, "minReplicas": MIN_REPLICAS,
                    "maxReplicas": 4}  # fmt: skip
            release.install({"workers": {"pools": [pool]}})
            [pod] = release.pods.wait_pods(OPERATOR_PODS, 1)
            reader = ScaleReader(plane)
            trials = [trial(release, pod, reader, number) for number in range(TRIALS)]
            first = [min(found["scrapejob"], found["pool"]) for found in trials]
            print(
                f"operator start -> first reconcile (chart's namespaced operator under its own ServiceAccount "
                f"token, {TRIALS} trials): {summary(first)} (goal <= 5 s); /readyz 200: "
                f"{summary([found['ready'] for found in trials])}; ScrapeJob submitted: "
                f"{summary([found['scrapejob'] for found in trials])}; pool's Deployment scaled: "
                f"{summary([found['pool'] for found in trials])}"
            )
            before = trial(release, pod, reader, TRIALS, ["python", "-c", LISTING_NAMESPACES])
            print(
                f"baseline (kopf lists namespaces, refused by the namespaced Role, as before; 1 trial): "
                f"first reconcile after {min(before['scrapejob'], before['pool']):.1f} s"
            )
        finally:
            release.stop()
            plane.stop()
            redis.stop()


if __name__ == "__main__":
    main()
