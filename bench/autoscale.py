"""Autoscaler benchmark: reaction time and cost, against a real API server, a real
Redis and the real operator process. Prints figures; never pass/fail.

1. Reaction: tasks land in a queue of a pool at zero; time until the Deployment's
   `spec.replicas` is patched, over 20 trials (p50/p95; the issue's goal is p95 <= 2 s
   with the default 1 s poll).
2. Cost: 50 pools polling every second, with 2,000 in-flight entries of 1 KB in the
   broker's unacked hash (what 500 busy workers of concurrency 4 leave there): the
   operator's CPU and RSS, and Redis' CPU, over 30 s.

Against a baseline measured in the same run, standing in for KEDA's Redis-lists
scaler as teams deploy it (KEDA itself cannot run here): the same operator and API
server, with pools polling every 30 s, KEDA's default `pollingInterval`. Its
reaction is measured over 5 trials, each on a fresh pool at zero, landing at a
random phase of the 30 s poll (one in each fifth of it, so that 5 trials average
over the period). It is generous to KEDA, which at zero only activates the
Deployment (0 -> 1) and leaves 1 -> N to the HorizontalPodAutoscaler's next sync.

And one correctness figure: a pool whose tasks were all taken by workers (its list
empty, its tasks in the broker's unacked hash), where our rule keeps the workers
and a rule that counts only the list length, as KEDA's does, wants minReplicas. It
is set up before the baseline's trials and read after them, so it adds no waiting.

Run: `python -m bench.autoscale` (or through `python -m bench`)."""

from __future__ import annotations

import http.client
import json
import math
import random
import ssl
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from bench.figures import percentile
from crawlfleet_core.celery_app import SLEEP_TASK, create_celery_app
from crawlfleet_core.settings import Settings
from crawlfleet_core.store.keys import queue_lists
from tests.harness.control_plane import ControlPlane
from tests.harness.pool_operator import PoolOperator, install_workerpool_crd, worker_deployment, worker_pool
from tests.harness.redis_server import RedisServer

TRIALS = 20
POOLS = 50
IN_FLIGHT_ENTRIES = 2000
COST_SECONDS = 30.0
BASELINE_TRIALS = 5
BASELINE_POLL_SECONDS = 30  # KEDA's default pollingInterval
TASKS_PER_TRIAL = 3
BUSY_POOL = "busy"  # the correctness pool: its queue and Deployment have this name too


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

    def get(self, path: str) -> dict[str, Any]:
        self.connection.request("GET", path)
        return dict(json.loads(self.connection.getresponse().read()))

    def replicas(self, namespace: str, deployment: str) -> int:
        body = self.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}/scale")
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


def reaction_times(plane: ControlPlane, redis: RedisServer, settings: Settings) -> list[float]:
    namespace, queue = f"bench-{uuid.uuid4().hex[:6]}", "reaction"
    plane.kubectl("create", "namespace", namespace)
    apply(
        plane,
        namespace,
        worker_deployment("workers", 0),
        worker_pool(
            "workers", queue=queue, tasksPerReplica=1, maxReplicas=5, scaleDown={"stabilizationWindowSeconds": 0}
        ),
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


def pool_status(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    result = plane.kubectl("get", "workerpool", name, "-n", namespace, "-o", "json")
    return dict(json.loads(result.stdout).get("status", {}))


def wait_for_status(
    plane: ControlPlane, namespace: str, name: str, ready: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = pool_status(plane, namespace, name)
        if ready(status):
            return status
        time.sleep(0.2)
    raise TimeoutError(f"{namespace}/{name}'s status never got there: {status}")


def baseline_pools(plane: ControlPlane) -> str:
    """A namespace with one pool at zero per baseline trial, polling every 30 s, and the
    correctness pool (polling every second, like ours); returns it once every pool
    has made its first poll, so that no trial is caught by a daemon's start."""
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    plane.kubectl("create", "namespace", namespace)
    manifests: list[dict[str, object]] = []
    common = {"tasksPerReplica": 1, "maxReplicas": 5, "scaleDown": {"stabilizationWindowSeconds": 0}}
    for index in range(BASELINE_TRIALS):
        name = f"baseline-{index}"
        manifests += [
            worker_deployment(name, 0),
            worker_pool(name, queue=name, pollIntervalSeconds=BASELINE_POLL_SECONDS, **common),
        ]
    manifests += [worker_deployment(BUSY_POOL, 0), worker_pool(BUSY_POOL, queue=BUSY_POOL, minReplicas=0, **common)]
    apply(plane, namespace, *manifests)
    for index in range(BASELINE_TRIALS):
        wait_for_status(plane, namespace, f"baseline-{index}", lambda status: bool(status.get("conditions")))
    wait_for_status(plane, namespace, BUSY_POOL, lambda status: bool(status.get("conditions")))
    return namespace


def take_busy_tasks(plane: ControlPlane, redis: RedisServer, settings: Settings, namespace: str) -> list[str]:
    """Tasks land in the busy pool's queue, it scales up, then workers take every task:
    as kombu does on delivery, each message leaves the list for the unacked hash (one
    transaction here, so no poll sees neither). Returns the delivery tags."""
    app, reader, broker = create_celery_app(settings), ScaleReader(plane), redis.client(0)
    for _ in range(TASKS_PER_TRIAL):
        app.send_task(SLEEP_TASK, kwargs={"seconds": 1}, queue=BUSY_POOL)
    reader.wait(namespace, BUSY_POOL, TASKS_PER_TRIAL)
    messages = broker.lrange(BUSY_POOL, 0, -1)
    entries = {uuid.uuid4().hex: json.dumps([json.loads(m), BUSY_POOL, BUSY_POOL]) for m in messages}
    with broker.pipeline(transaction=True) as transaction:
        transaction.delete(*queue_lists(BUSY_POOL))
        transaction.hset("unacked", mapping=entries)
        transaction.execute()
    return list(entries)


def busy_figures(plane: ControlPlane, redis: RedisServer, namespace: str) -> dict[str, int]:
    """What the busy pool's status says, and what a waiting-only rule would want from
    what KEDA's Redis-lists scaler reads: `LLEN` of the queue's list."""
    status = wait_for_status(plane, namespace, BUSY_POOL, lambda status: status.get("inFlight") == TASKS_PER_TRIAL)
    spec = json.loads(plane.kubectl("get", "workerpool", BUSY_POOL, "-n", namespace, "-o", "json").stdout)["spec"]
    listed = int(redis.client(0).llen(BUSY_POOL))
    waiting_only = min(max(math.ceil(listed / spec["tasksPerReplica"]), spec["minReplicas"]), spec["maxReplicas"])
    return {
        "queued": int(status["queued"]),
        "in_flight": int(status["inFlight"]),
        "desired": int(status["desiredReplicas"]),
        "replicas": ScaleReader(plane).replicas(namespace, BUSY_POOL),
        "listed": listed,
        "waiting_only": waiting_only,
        "min_replicas": spec["minReplicas"],
    }


def baseline_reaction_times(plane: ControlPlane, redis: RedisServer, settings: Settings, namespace: str) -> list[float]:
    """One trial per baseline pool, one after the other, each landing at its own
    random phase of the 30 s poll (stratified: one in each fifth of the period)."""
    period = BASELINE_POLL_SECONDS
    phases = sorted((index + random.random()) * period / BASELINE_TRIALS for index in range(BASELINE_TRIALS))
    # Begin with the next phase still ahead on the clock, so the first trial waits no extra period;
    # each later one lands in the period after the previous trial's reaction.
    ahead = next((i for i, phase in enumerate(phases) if phase > time.time() % period + 0.5), 0)
    phases = phases[ahead:] + phases[:ahead]
    app, reader, broker = create_celery_app(settings), ScaleReader(plane), redis.client(0)
    times = []
    for index, phase in enumerate(phases):
        name = f"baseline-{index}"
        now = time.time()
        land = now - now % period + phase  # the daemons poll on the wall clock's beat
        if land < now + 0.2:
            land += period
        time.sleep(land - time.time())
        started = time.monotonic()
        for _ in range(TASKS_PER_TRIAL):
            app.send_task(SLEEP_TASK, kwargs={"seconds": 1}, queue=name)
        times.append(reader.wait(namespace, name, TASKS_PER_TRIAL, timeout=period + 10) - started)
        broker.delete(*queue_lists(name))
    return times


def compare_with_baseline(
    plane: ControlPlane, redis: RedisServer, settings: Settings, ours: list[float]
) -> tuple[str, str]:
    """The baseline's line and the correctness line; the baseline's pools are gone after."""
    namespace = baseline_pools(plane)
    tags = take_busy_tasks(plane, redis, settings, namespace)
    baseline = baseline_reaction_times(plane, redis, settings, namespace)
    busy = busy_figures(plane, redis, namespace)
    # Stop their daemons and take the in-flight entries back, so neither weighs on the cost figures.
    plane.kubectl("delete", "workerpools", "--all", "-n", namespace)
    redis.client(0).hdel("unacked", *tags)
    ratio = statistics.median(baseline) / statistics.median(ours)
    baseline_line = (
        f"baseline (poll every {BASELINE_POLL_SECONDS} s, KEDA's default; {BASELINE_TRIALS} trials at random "
        f"phases of the poll): p50 {statistics.median(baseline):.3f} s, min {min(baseline):.3f} s, "
        f"max {max(baseline):.3f} s  → ours is {ratio:.0f}× faster at p50"
    )
    correctness_line = (
        f"in flight with an empty list (pool status: {busy['queued']} waiting, {busy['in_flight']} in flight): "
        f"ours desires {busy['desired']} replicas (Deployment at {busy['replicas']}); a waiting-only rule "
        f"(KEDA's, LLEN {busy['listed']}) would want {busy['waiting_only']} "
        f"(minReplicas {busy['min_replicas']}), stopping busy workers"
    )
    return baseline_line, correctness_line


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
        manifests += [worker_deployment(name, 1), worker_pool(name, queue=name, tasksPerReplica=100, minReplicas=1)]
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
            for line in compare_with_baseline(plane, redis, settings, times):
                print(line)
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
