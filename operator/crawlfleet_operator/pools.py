"""WorkerPool handlers: one kopf daemon per pool polls its queue and sets its worker
Deployment's scale.

A daemon rather than a timer, because its interval comes from the pool's own
(live) spec and a slow poll must delay the next one instead of overlapping it.
Each poll costs at most one Redis round trip (`QueueGauge.depth`, shared by the
pools that poll on the same beat) and one API read (the Deployment's `scale`
subresource); everything else happens only when something
changed: the scale patch and its Event when the decision moves the replicas, pod
annotations just before a scale-down, and a status patch when the decision or a
condition changed, or at most every `STATUS_REFRESH_SECONDS` for the counts
(metrics carry them live). The decision itself is `autoscaling.desired_replicas`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
import redis
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import ValidationError

from crawlfleet_core.model.conditions import Condition
from crawlfleet_core.resources import GROUP, VERSION
from crawlfleet_core.resources.workerpools import WorkerPoolSpec, WorkerPoolStatus
from crawlfleet_core.settings import get_settings
from crawlfleet_core.store.queues import QueueDepth, QueueGauge, broker_client
from crawlfleet_operator import cluster, metrics
from crawlfleet_operator.autoscaling import (
    QUEUE_READABLE,
    SCALING_ACTIVE,
    SCALING_LIMITED,
    Decision,
    Recommendation,
    desired_replicas,
    measure_failed,
    with_condition,
)

PLURAL = "workerpools"
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
STATUS_REFRESH_SECONDS = 5.0
MEMO_KEY = "worker_pools"


@dataclass
class Clients:
    """What every pool's daemon shares: one Redis connection pool with the loaded
    script, one Kubernetes HTTP session."""

    gauge: QueueGauge
    api: client.ApiClient
    apps: client.AppsV1Api = field(init=False)
    core: client.CoreV1Api = field(init=False)
    custom: client.CustomObjectsApi = field(init=False)

    def __post_init__(self) -> None:
        self.apps = client.AppsV1Api(self.api)
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)

    async def close(self) -> None:
        await self.gauge.client.aclose()
        await self.api.close()


async def connect() -> Clients:
    return Clients(QueueGauge(broker_client(get_settings().broker_url)), await cluster.connect())


@dataclass
class Pool:
    """One WorkerPool's autoscaling memory: the recommendations of its
    stabilization windows and what its status last said."""

    namespace: str
    name: str
    clients: Clients
    history: tuple[Recommendation, ...] = ()
    status: WorkerPoolStatus = field(default_factory=WorkerPoolStatus)
    status_written_at: float = float("-inf")

    async def poll(self, spec: WorkerPoolSpec, generation: int | None, body: kopf.Body) -> Decision | None:
        """Measure, decide, apply and record; the Decision, or None when there was nothing to decide on."""
        labels = (self.namespace, self.name)
        now, wall = time.monotonic(), datetime.now(UTC)
        conditions = list(self.status.conditions)
        depth: QueueDepth | None = None
        try:
            depth = await self.clients.gauge.depth(spec.queue)
        except (redis.RedisError, OSError) as error:
            measure_error: BaseException = error
            metrics.pool_measure_errors.labels(*labels).inc()
            conditions = with_condition(
                conditions,
                type_=QUEUE_READABLE,
                status=False,
                reason="RedisError",
                message=str(error),
                now=wall,
                generation=generation,
            )
        else:
            metrics.pool_queued.labels(*labels).set(depth.waiting)
            metrics.pool_in_flight.labels(*labels).set(depth.in_flight)
            conditions = with_condition(
                conditions,
                type_=QUEUE_READABLE,
                status=True,
                reason="Measured",
                message=f"queue {spec.queue!r}",
                now=wall,
                generation=generation,
            )

        scale = await self._read_scale(spec)
        if scale is None:
            conditions = with_condition(
                conditions,
                type_=SCALING_ACTIVE,
                status=False,
                reason="DeploymentNotFound",
                message=f"no Deployment {spec.deployment!r} in namespace {self.namespace!r}",
                now=wall,
                generation=generation,
            )
            await self._record(
                depth=depth, current=None, conditions=conditions, generation=generation, now=now, changed=False
            )
            return None
        current = int(scale.spec.replicas or 0)
        metrics.pool_current_replicas.labels(*labels).set(current)

        if spec.paused:
            # Forget the windows: when the pool resumes, it starts a fresh one from the count it finds.
            self.history = ()
            conditions = with_condition(
                conditions,
                type_=SCALING_ACTIVE,
                status=False,
                reason="Paused",
                message="spec.paused is true",
                now=wall,
                generation=generation,
            )
            await self._record(
                depth=depth, current=current, conditions=conditions, generation=generation, now=now, changed=False
            )
            return None

        if depth is None:
            decision = measure_failed(current, measure_error, self.history)
        else:
            decision = desired_replicas(spec, depth, current, self.history, now)
        self.history = decision.history
        metrics.pool_desired_replicas.labels(*labels).set(decision.replicas)
        conditions = with_condition(
            conditions,
            type_=SCALING_ACTIVE,
            status=depth is not None,
            reason="QueueUnreadable" if depth is None else "QueueMeasured",
            message=decision.message,
            now=wall,
            generation=generation,
        )
        conditions = with_condition(
            conditions,
            type_=SCALING_LIMITED,
            status=decision.limited is not None,
            reason=decision.limited or "WithinBounds",
            message=decision.message,
            now=wall,
            generation=generation,
        )
        if decision.changes:
            if decision.replicas < current:
                await self._rank_pods_for_removal(scale.status.selector)
            await self.clients.apps.patch_namespaced_deployment_scale(
                spec.deployment, self.namespace, {"spec": {"replicas": decision.replicas}}
            )
            direction = "up" if decision.replicas > current else "down"
            metrics.pool_scale_events.labels(*labels, direction).inc()
            kopf.info(body, reason=decision.reason, message=decision.message)
            self.status = self.status.model_copy(
                update={"last_scale_time": wall, "last_scale_reason": decision.message}
            )
        elif depth is None and self._transitioned(conditions, QUEUE_READABLE):
            kopf.warn(body, reason=decision.reason, message=decision.message)
        await self._record(
            depth=depth,
            current=current,
            conditions=conditions,
            generation=generation,
            now=now,
            changed=decision.changes,
            desired=decision.replicas,
        )
        return decision

    async def _read_scale(self, spec: WorkerPoolSpec) -> client.V1Scale | None:
        try:
            scale: client.V1Scale = await self.clients.apps.read_namespaced_deployment_scale(
                spec.deployment, self.namespace
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return scale

    async def _rank_pods_for_removal(self, selector: str | None) -> None:
        """Give each worker pod a deletion cost equal to the tasks its worker holds,
        so the ReplicaSet removes idle pods first (Kubernetes' `pod-deletion-cost`).

        Best effort, by design: a pod whose worker has not reported costs 0, and a
        worker that takes a task between this and the scale patch is protected by
        warm shutdown and acks_late instead (see docs/autoscaling.md)."""
        if not selector:
            return
        pods = (await self.clients.core.list_namespaced_pod(self.namespace, label_selector=selector)).items
        try:
            held = await self.clients.gauge.held_tasks([pod.metadata.name for pod in pods])
        except (redis.RedisError, OSError):
            return
        patches = [
            self.clients.core.patch_namespaced_pod(
                pod.metadata.name,
                self.namespace,
                {"metadata": {"annotations": {DELETION_COST: str(held.get(pod.metadata.name, 0))}}},
            )
            for pod in pods
            if (pod.metadata.annotations or {}).get(DELETION_COST) != str(held.get(pod.metadata.name, 0))
        ]
        await asyncio.gather(*patches)

    def _transitioned(self, conditions: list[Condition], type_: str) -> bool:
        before = next((c.status for c in self.status.conditions if c.type == type_), None)
        after = next((c.status for c in conditions if c.type == type_), None)
        return before != after

    async def _record(
        self,
        *,
        depth: QueueDepth | None,
        current: int | None,
        conditions: list[Condition],
        generation: int | None,
        now: float,
        changed: bool,
        desired: int | None = None,
    ) -> None:
        """Patch the status when it says something new; counts alone wait for the refresh interval."""
        update: dict[str, Any] = {"conditions": conditions, "observed_generation": generation}
        if depth is not None:
            update |= {"queued": depth.waiting, "in_flight": depth.in_flight}
        if current is not None:
            update["current_replicas"] = current
        if desired is not None:
            update["desired_replicas"] = desired
        status = self.status.model_copy(update=update)
        essential = (
            changed
            or [(c.type, c.status, c.reason) for c in status.conditions]
            != [(c.type, c.status, c.reason) for c in self.status.conditions]
            or status.desired_replicas != self.status.desired_replicas
            or status.current_replicas != self.status.current_replicas
            or status.observed_generation != self.status.observed_generation
        )
        due = now - self.status_written_at >= STATUS_REFRESH_SECONDS and status != self.status
        if not (essential or due):
            return
        # The client's stub omits `_content_type`, which its runtime accepts.
        await self.clients.custom.patch_namespaced_custom_object_status(  # type: ignore[call-arg]
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            self.name,
            {"status": status.model_dump(mode="json", by_alias=True, exclude_none=True)},
            # Custom resources take no strategic merge patch, which the client would pick for a dict.
            _content_type="application/merge-patch+json",
        )
        self.status, self.status_written_at = status, now


@kopf.on.startup()
async def connect_autoscaler(memo: kopf.Memo, **_: Any) -> None:
    memo[MEMO_KEY] = await connect()


@kopf.on.cleanup()
async def disconnect_autoscaler(memo: kopf.Memo, **_: Any) -> None:
    clients: Clients | None = memo.get(MEMO_KEY)
    if clients is not None:
        await clients.close()


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10.0)
async def autoscale_pool(
    *,
    name: str,
    namespace: str | None,
    spec: kopf.Spec,
    meta: kopf.Meta,
    status: kopf.Status,
    body: kopf.Body,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Poll the pool until it is deleted or the operator stops. `spec` and `meta`
    are kopf's live views, so an edit takes effect at the next poll."""
    if namespace is None:
        raise kopf.PermanentError("a WorkerPool is namespaced")
    pool = Pool(namespace, name, memo[MEMO_KEY])
    try:
        pool.status = WorkerPoolStatus.model_validate(dict(status))
    except ValidationError:
        logger.info("ignoring an unreadable status of %s/%s", namespace, name)
    try:
        while not stopped:
            try:
                pool_spec = WorkerPoolSpec.model_validate(dict(spec))
            except ValidationError as error:
                # The CRD's schema should have refused it; wait for an edit rather than crash-loop.
                logger.error("invalid WorkerPool spec: %s", error)
                await stopped.wait(10)
                continue
            try:
                await pool.poll(pool_spec, meta.get("generation"), body)
            except ApiException as error:
                logger.warning("Kubernetes API error, retrying at the next poll: %s %s", error.status, error.body)
            # On the wall clock's beat, so that pools with one interval poll together and
            # QueueGauge measures them all in one Redis call.
            interval = pool_spec.poll_interval_seconds
            await stopped.wait(interval - time.time() % interval)
    finally:
        metrics.forget_pool(namespace, name)
