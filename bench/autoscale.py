"""Autoscaler benchmark: reaction time and cost, against a real API server, a real
Redis and the real operator process. Prints figures; never pass/fail.

1. Reaction: tasks land in a queue of a pool at zero; time until the Deployment's
   `spec.replicas` is patched, over 20 trials (p50/p95; the issue's goal is p95 <= 2 s
   with the default 1 s poll).
2. Cost: 50 pools polling every second, with 2,000 in-flight entries of 1 KB in the
   broker's unacked hash (what 500 busy workers of concurrency 4 leave there): the
   operator's CPU and RSS, and Redis' CPU, over 30 s.

Run: `python -m bench.autoscale` (or through `python -m bench`)."""

from __future__ import annotations

import http.client
import json
import random
import ssl
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psutil

from crawlfleet_core.celery_app import SLEEP_TASK, create_celery_app
from crawlfleet_core.keys import queue_lists
from crawlfleet_core.settings import Settings
from tests.harness.control_plane import ControlPlane
from tests.harness.pool_operator import PoolOperator, install_workerpool_crd
from tests.harness.redis_server import RedisServer

TRIALS = 20
POOLS = 50
IN_FLIGHT_ENTRIES = 2000
COST_SECONDS = 30.0


class ScaleReader:
    """Reads a Deployment's replicas over one kept-alive TLS connection, so that
    the reading adds milliseconds, not a kubectl start, to what is measured."""

    def __init__(self, plane: ControlPlane) -> None:
        if plane.credentials is None:
            raise RuntimeError("the benchmark starts its own control plane")
        context = ssl.create_default_context(cafile=plane.credentials.path("ca.crt"))
        context.load_cert_chain(plane.credentials.path("admin.crt"), plane.credentials.path("admin.key"))
        host, port = plane.server_url.removeprefix("https://").split(":")
        self.connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=5)

    def replicas(self, namespace: str, deployment: str) -> int:
        self.connection.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}/scale")
        response = self.connection.getresponse()
        body = json.loads(response.read())
        return int(body["spec"].get("replicas", 0))

    def wait(self, namespace: str, deployment: str, expected: int, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.replicas(namespace, deployment) == expected:
                return time.monotonic()
            time.sleep(0.01)
        raise TimeoutError(f"{namespace}/{deployment} never reached {expected} replicas")


def apply(plane: ControlPlane, namespace: str, *manifests: dict[str, object]) -> None:
    plane.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps({"kind": "List", "apiVersion": "v1", "items": list(manifests)}),
    )


def deployment(name: str, replicas: int) -> dict[str, object]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "w", "image": "w"}]}},
        },
    }


def pool(name: str, queue: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "crawlfleet.io/v1alpha1",
        "kind": "WorkerPool",
        "metadata": {"name": name},
        "spec": {"queue": queue, "deployment": name, **spec},
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def reaction_times(plane: ControlPlane, redis: RedisServer, settings: Settings) -> list[float]:
    namespace, queue = f"bench-{uuid.uuid4().hex[:6]}", "reaction"
    plane.kubectl("create", "namespace", namespace)
    apply(
        plane,
        namespace,
        deployment("workers", 0),
        pool("workers", queue, tasksPerReplica=1, maxReplicas=5, scaleDown={"stabilizationWindowSeconds": 0}),
    )
    app = create_celery_app(settings)
    reader = ScaleReader(plane)
    broker = redis.client(0)
    times = []
    for _ in range(TRIALS):
        reader.wait(namespace, "workers", 0)
        time.sleep(random.uniform(0, 1))  # land at a random phase of the 1 s poll
        started = time.monotonic()
        for _ in range(3):
            app.send_task(SLEEP_TASK, kwargs={"seconds": 1}, queue=queue)
        times.append(reader.wait(namespace, "workers", 3) - started)
        broker.delete(*queue_lists(queue))
    return times


def polling_cost(plane: ControlPlane, redis: RedisServer, operator: PoolOperator) -> tuple[float, float, float]:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    plane.kubectl("create", "namespace", namespace)
    broker = redis.client(0)
    payload = "x" * 1000
    broker.hset(
        "unacked",
        mapping={
            uuid.uuid4().hex: json.dumps([{"body": payload}, f"pool-{i % POOLS}", f"pool-{i % POOLS}"])
            for i in range(IN_FLIGHT_ENTRIES)
        },
    )
    manifests: list[dict[str, object]] = []
    for index in range(POOLS):
        name = f"pool-{index}"
        manifests += [deployment(name, 1), pool(name, name, tasksPerReplica=100, minReplicas=1)]
    apply(plane, namespace, *manifests)
    time.sleep(10)  # every daemon started and past its first status write
    process = psutil.Process(operator.pid)
    redis_before = broker.info("cpu")
    cpu_before, started = process.cpu_times(), time.monotonic()
    time.sleep(COST_SECONDS)
    cpu_after, elapsed = process.cpu_times(), time.monotonic() - started
    redis_after = broker.info("cpu")
    operator_cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / elapsed
    redis_cpu = (
        redis_after["used_cpu_user"]
        + redis_after["used_cpu_sys"]
        - redis_before["used_cpu_user"]
        - redis_before["used_cpu_sys"]
    ) / elapsed
    return operator_cpu, process.memory_info().rss / 2**20, redis_cpu


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="crawlfleet-bench-autoscale-") as scratch:
        directory = Path(scratch)
        redis = RedisServer(directory / "redis")
        plane = ControlPlane.start(directory / "k8s")
        operator = None
        try:
            settings = Settings(broker_url=redis.url(0), result_backend=redis.url(1), job_store_url=redis.url(2))
            install_workerpool_crd(plane)
            env = {
                "CRAWLFLEET_BROKER_URL": redis.url(0),
                "CRAWLFLEET_RESULT_BACKEND": redis.url(1),
                "CRAWLFLEET_JOB_STORE_URL": redis.url(2),
            }
            operator = PoolOperator(plane, env, directory / "operator", "bench-*")
            times = reaction_times(plane, redis, settings)
            print(
                f"autoscale reaction (tasks landed -> Deployment spec.replicas patched, poll 1 s, {TRIALS} trials): "
                f"p50 {statistics.median(times):.3f} s, p95 {percentile(times, 0.95):.3f} s, max {max(times):.3f} s"
            )
            operator_cpu, rss, redis_cpu = polling_cost(plane, redis, operator)
            print(
                f"autoscale cost ({POOLS} pools polling every 1 s, {IN_FLIGHT_ENTRIES} unacked entries of 1 KB): "
                f"operator CPU {operator_cpu * 100:.1f}% of a core, RSS {rss:.0f} MiB; "
                f"Redis CPU {redis_cpu * 100:.1f}% of a core"
            )
        finally:
            if operator is not None:
                operator.stop()
            plane.stop()
            redis.stop()


if __name__ == "__main__":
    main()
