"""The WorkerPool autoscaler end to end: a real `kopf run`, a real kube-apiserver
with its controller manager, a real Redis broker and real Celery workers.

The API server has no kubelet, so worker pods never run; Deployments, ReplicaSets,
Pods, the scale subresource and pod-deletion-cost all behave as in a cluster."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.result import AsyncResult

from crawlfleet_core import clock
from crawlfleet_core.celery_app import SLEEP_TASK
from crawlfleet_core.service import JobService
from crawlfleet_core.store.pools import pool_reports
from crawlfleet_core.store.queues import broker_client
from crawlfleet_core.store.registry import pool_announcement_ttl, served_at
from tests.harness.celery_worker import CeleryWorker
from tests.harness.control_plane import ControlPlane
from tests.harness.pool_operator import PoolOperator, install_workerpool_crd, worker_deployment, worker_pool
from tests.harness.ports import wait_until
from tests.harness.redis_server import RedisServer

NAMESPACE_PREFIX = "wpt-"


@pytest.fixture(scope="module")
def autoscaler(
    control_plane: ControlPlane, platform_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PoolOperator]:
    install_workerpool_crd(control_plane)
    operator = PoolOperator(
        control_plane, platform_env, tmp_path_factory.mktemp("pool-operator"), f"{NAMESPACE_PREFIX}*"
    )
    yield operator
    operator.stop()


class Cluster:
    """One test's namespace, with kubectl shortcuts for what a user would look at."""

    def __init__(self, plane: ControlPlane, prefix: str = NAMESPACE_PREFIX) -> None:
        self.plane = plane
        self.namespace = f"{prefix}{uuid.uuid4().hex[:8]}"
        plane.kubectl("create", "namespace", self.namespace)

    def apply(self, manifest: dict[str, Any]) -> None:
        self.plane.kubectl("apply", "-n", self.namespace, "-f", "-", input=json.dumps(manifest))

    def deployment(self, name: str, replicas: int) -> None:
        self.apply(worker_deployment(name, replicas))

    def pool(self, name: str, **spec: Any) -> None:
        self.apply(worker_pool(name, **{"pollIntervalSeconds": 0.5, **spec}))

    def get(self, kind: str, name: str) -> dict[str, Any]:
        result = self.plane.kubectl("get", kind, name, "-n", self.namespace, "-o", "json")
        return dict(json.loads(result.stdout))

    def replicas(self, deployment: str) -> int:
        return int(self.get("deployment", deployment)["spec"]["replicas"])

    def status(self, pool: str) -> dict[str, Any]:
        return dict(self.get("workerpool", pool).get("status", {}))

    def condition(self, pool: str, type_: str) -> dict[str, Any]:
        return next((c for c in self.status(pool).get("conditions", []) if c["type"] == type_), {})

    def event_reasons(self, pool: str) -> list[str]:
        result = self.plane.kubectl(
            "get", "events", "-n", self.namespace, f"--field-selector=involvedObject.name={pool}", "-o", "json"
        )
        return [item["reason"] for item in json.loads(result.stdout)["items"]]

    def pods(self, deployment: str) -> list[str]:
        result = self.plane.kubectl("get", "pods", "-n", self.namespace, "-l", f"app={deployment}", "-o", "json")
        return sorted(
            item["metadata"]["name"]
            for item in json.loads(result.stdout)["items"]
            if not item["metadata"].get("deletionTimestamp")
        )

    def wait_replicas(self, deployment: str, expected: int, timeout: float = 15) -> None:
        wait_until(
            lambda: self.replicas(deployment) == expected, timeout, f"{deployment} at {expected} replicas", interval=0.2
        )

    def hold_replicas(self, deployment: str, expected: int, seconds: float) -> None:
        """Assert the count stays put, sampling as often as kubectl allows."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.replicas(deployment) == expected
            time.sleep(0.2)

    def delete(self) -> None:
        self.plane.kubectl("delete", "namespace", self.namespace, "--wait=false")


@pytest.fixture
def cluster(control_plane: ControlPlane, autoscaler: PoolOperator) -> Iterator[Cluster]:
    namespace = Cluster(control_plane)
    yield namespace
    namespace.delete()


def fresh_queue() -> str:
    return f"q-{uuid.uuid4().hex[:10]}"


def send_sleeps(
    job_service: JobService, queue: str, count: int, seconds: int = 30, priority: int = 0
) -> list[AsyncResult[Any]]:
    return [
        job_service.app.send_task(SLEEP_TASK, kwargs={"seconds": seconds}, queue=queue, priority=priority)
        for _ in range(count)
    ]


def test_a_jump_to_40_tasks_scales_to_10_replicas_clamped_to_max(
    cluster: Cluster, autoscaler: PoolOperator, job_service: JobService
) -> None:
    queue = fresh_queue()
    cluster.deployment("workers", 0)
    cluster.pool("pool", queue=queue, deployment="workers", maxReplicas=10, tasksPerReplica=4)
    wait_until(lambda: cluster.status("pool").get("currentReplicas") == 0, 15, "the pool's first poll")

    send_sleeps(job_service, queue, 40)
    cluster.wait_replicas("workers", 10)
    status = cluster.status("pool")
    assert (status["desiredReplicas"], status["queued"], status["inFlight"]) == (10, 40, 0)
    assert "40 waiting + 0 in flight over 4 per replica wants 10" in status["lastScaleReason"]
    wait_until(lambda: "ScaledUp" in cluster.event_reasons("pool"), 10, "a ScaledUp event")
    series = f'namespace="{cluster.namespace}",pool="pool"'
    metrics = autoscaler.metrics()
    assert f"crawlfleet_pool_queued{{{series}}} 40.0" in metrics
    assert f"crawlfleet_pool_desired_replicas{{{series}}} 10.0" in metrics
    # The 40 tasks take a moment to send, so a poll may have seen some of them first.
    scale_ups = re.search(rf'crawlfleet_pool_scale_events_total{{direction="up",{series}}} (\S+)', metrics)
    assert scale_ups is not None
    assert float(scale_ups.group(1)) >= 1

    send_sleeps(job_service, queue, 20)
    wait_until(
        lambda: cluster.condition("pool", "ScalingLimited").get("reason") == "TooManyReplicas",
        15,
        "ScalingLimited: TooManyReplicas",
    )
    assert cluster.replicas("workers") == 10


def test_priority_sub_lists_are_counted(cluster: Cluster, job_service: JobService) -> None:
    queue = fresh_queue()
    cluster.deployment("workers", 0)
    cluster.pool("pool", queue=queue, deployment="workers", tasksPerReplica=4)
    for priority in range(9):
        send_sleeps(job_service, queue, 1, priority=priority)
    cluster.wait_replicas("workers", 3)
    wait_until(lambda: cluster.status("pool").get("queued") == 9, 10, "status.queued 9")


def test_in_flight_tasks_hold_replicas_up_when_the_list_is_empty(
    cluster: Cluster, job_service: JobService, worker_factory: Callable[..., CeleryWorker]
) -> None:
    queue = fresh_queue()
    cluster.deployment("workers", 1)
    worker_factory(queues=queue, concurrency=2)
    # Longer than the wait for the pool's first measurement and the hold after it together.
    tasks = send_sleeps(job_service, queue, 2, seconds=25)
    cluster.pool(
        "pool", queue=queue, deployment="workers", tasksPerReplica=2, scaleDown={"stabilizationWindowSeconds": 0}
    )
    wait_until(
        lambda: (cluster.status("pool").get("queued"), cluster.status("pool").get("inFlight")) == (0, 2),
        10,
        "the list empty and both tasks in flight",
    )
    cluster.hold_replicas("workers", 1, 3)
    assert not any(task.ready() for task in tasks), "a task ended during the hold, which then proved nothing"
    wait_until(lambda: all(task.ready() for task in tasks), 40, "both tasks to finish")
    cluster.wait_replicas("workers", 0, timeout=20)


def test_scale_to_zero_only_after_the_window_with_nothing_in_flight(cluster: Cluster) -> None:
    queue = fresh_queue()
    cluster.deployment("workers", 2)
    created = time.monotonic()
    cluster.pool("pool", queue=queue, deployment="workers", scaleDown={"stabilizationWindowSeconds": 4})
    cluster.wait_replicas("workers", 0, timeout=15)
    assert time.monotonic() - created >= 4
    assert "ScaledDown" in cluster.event_reasons("pool")


def test_a_pool_at_zero_starts_only_above_the_activation_threshold(cluster: Cluster, job_service: JobService) -> None:
    queue = fresh_queue()
    cluster.deployment("workers", 0)
    cluster.pool("pool", queue=queue, deployment="workers", tasksPerReplica=4, activationQueueLength=5)
    send_sleeps(job_service, queue, 5)
    wait_until(lambda: cluster.status("pool").get("queued") == 5, 10, "the pool to see 5 tasks")
    assert cluster.condition("pool", "ScalingLimited").get("reason") == "BelowActivation"
    cluster.hold_replicas("workers", 0, 2)

    send_sleeps(job_service, queue, 1)
    cluster.wait_replicas("workers", 2)


def test_paused_pool_leaves_the_deployment_alone(cluster: Cluster, job_service: JobService) -> None:
    queue = fresh_queue()
    cluster.deployment("workers", 3)
    cluster.pool("pool", queue=queue, deployment="workers", tasksPerReplica=1, paused=True)
    send_sleeps(job_service, queue, 7)
    wait_until(lambda: cluster.condition("pool", "ScalingActive").get("reason") == "Paused", 10, "a Paused condition")
    cluster.hold_replicas("workers", 3, 2)

    cluster.plane.kubectl(
        "patch", "workerpool", "pool", "-n", cluster.namespace, "--type=merge", "-p", '{"spec":{"paused":false}}'
    )
    cluster.wait_replicas("workers", 7)


def test_two_pools_on_two_queues_scale_independently(cluster: Cluster, job_service: JobService) -> None:
    busy_queue, quiet_queue = fresh_queue(), fresh_queue()
    cluster.deployment("busy", 0)
    cluster.deployment("quiet", 1)
    cluster.pool("busy", queue=busy_queue, deployment="busy", tasksPerReplica=4)
    cluster.pool("quiet", queue=quiet_queue, deployment="quiet", tasksPerReplica=4, minReplicas=1)
    send_sleeps(job_service, busy_queue, 12)
    cluster.wait_replicas("busy", 3)
    cluster.hold_replicas("quiet", 1, 1)
    assert cluster.status("quiet").get("queued") == 0


def test_busy_workers_are_the_last_removed(
    cluster: Cluster, job_service: JobService, worker_factory: Callable[..., CeleryWorker]
) -> None:
    """Each worker reports its held tasks under its pod's name; before scaling down
    the operator turns that into pod-deletion-cost, and the ReplicaSet keeps the busy pod."""
    queue = fresh_queue()
    cluster.deployment("workers", 2)
    wait_until(lambda: len(cluster.pods("workers")) == 2, 15, "two worker pods")
    first, second = cluster.pods("workers")
    worker_factory(queues=queue, concurrency=1, extra_env={"CRAWLFLEET_POD_NAME": second})
    # Longer than every wait below together (the other worker's start, the scale-down, the pods going),
    # so the task is still held when the pods are ranked; it is revoked once the test has seen enough.
    (task,) = send_sleeps(job_service, queue, 1, seconds=120)
    try:
        worker_factory(queues=queue, concurrency=1, extra_env={"CRAWLFLEET_POD_NAME": first})

        cluster.pool(
            "pool", queue=queue, deployment="workers", tasksPerReplica=1, scaleDown={"stabilizationWindowSeconds": 1}
        )
        cluster.wait_replicas("workers", 1)
        wait_until(lambda: cluster.pods("workers") == [second], 15, f"only the busy pod {second} to remain")
        pod = cluster.get("pod", second)
        assert pod["metadata"]["annotations"]["controller.kubernetes.io/pod-deletion-cost"] == "1"
        assert not task.ready()
    finally:
        task.revoke(terminate=True)


def test_redis_down_keeps_replicas_and_sets_a_condition(
    control_plane: ControlPlane, platform_env: dict[str, str], tmp_path: Path, autoscaler: PoolOperator
) -> None:
    """Its own broker and its own operator, so stopping Redis disturbs no other test."""
    broker = RedisServer(tmp_path / "redis")
    operator = PoolOperator(
        control_plane, {**platform_env, "CRAWLFLEET_BROKER_URL": broker.url(0)}, tmp_path / "operator", "wpdown-*"
    )
    cluster = Cluster(control_plane, prefix="wpdown-")
    try:
        # Eight waiting entries hold the pool at two replicas; with no window, a pool that took
        # an unreadable queue for an empty one would drop to zero at once.
        broker.client(0).rpush("crawl", *["task"] * 8)
        cluster.deployment("workers", 2)
        cluster.pool(
            "pool", queue="crawl", deployment="workers", tasksPerReplica=4, scaleDown={"stabilizationWindowSeconds": 0}
        )
        wait_until(lambda: cluster.status("pool").get("queued") == 8, 15, "the first measurement")
        broker.stop()
        wait_until(
            lambda: cluster.condition("pool", "QueueReadable").get("reason") == "RedisError",
            15,
            "QueueReadable False: RedisError",
        )
        assert cluster.condition("pool", "QueueReadable")["status"] == "False"
        assert cluster.condition("pool", "ScalingActive")["reason"] == "QueueUnreadable"
        cluster.hold_replicas("workers", 2, 2)
        wait_until(lambda: "QueueUnreadable" in cluster.event_reasons("pool"), 10, "a QueueUnreadable event")
    finally:
        cluster.delete()
        operator.stop()


def test_a_pool_at_zero_announces_its_queue_so_the_api_accepts_jobs_for_it(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    queue = fresh_queue()
    cluster.deployment("workers", 0)
    cluster.pool("pool", queue=queue, deployment="workers")
    broker = redis_server.client(0)
    wait_until(lambda: queue in served_at(broker, time.time()), 15, f"the operator to announce {queue}")
    # The announcement outlives a few polls, and no more than that.
    assert broker.zscore("crawlfleet:queues:served", queue) <= time.time() + pool_announcement_ttl(0.5)


def reported_pools(broker_url: str) -> dict[str, dict[str, Any]]:
    """What the API's /v1/pools reads: the operator's fresh reports, by namespace/name."""

    async def read() -> dict[str, dict[str, Any]]:
        client = broker_client(broker_url, "")
        try:
            reports = await pool_reports(client, clock.now())
        finally:
            await client.aclose()
        return {f"{report.namespace}/{report.name}": report.model_dump(by_alias=True) for report in reports}

    return asyncio.run(read())


def test_each_pool_is_reported_in_the_broker_until_it_is_deleted(
    cluster: Cluster, job_service: JobService, platform_env: dict[str, str]
) -> None:
    queue = fresh_queue()
    cluster.deployment("reported", 0)
    cluster.pool("reported", queue=queue, maxReplicas=4, tasksPerReplica=1)
    send_sleeps(job_service, queue, 3)
    key = f"{cluster.namespace}/reported"
    report = wait_until(
        lambda: (
            (found := reported_pools(platform_env["CRAWLFLEET_BROKER_URL"]).get(key))
            and found["status"]["desiredReplicas"] == 3
            and found
        ),
        15,
        "the pool's report with 3 desired replicas",
        interval=0.2,
    )
    assert isinstance(report, dict)
    assert report["spec"]["queue"] == queue
    assert report["status"]["queued"] == 3
    cluster.plane.kubectl("delete", "workerpool", "reported", "-n", cluster.namespace)
    wait_until(
        lambda: key not in reported_pools(platform_env["CRAWLFLEET_BROKER_URL"]),
        15,
        "the report withdrawn",
        interval=0.2,
    )
