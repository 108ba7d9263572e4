"""kopf handlers for WorkerPools: one daemon per pool polls its queue and sets its
worker Deployment's scale.

A daemon rather than a timer, because its interval comes from the pool's own
(live) spec and a slow poll must delay the next one instead of overlapping it.
Each poll costs at most one Redis round trip (`QueueGauge.depth`, shared by the
pools that poll on the same beat) and one API read (the Deployment's `scale`
subresource); what follows is decided by `workerpools.pool_update` and only
applied here: pod deletion costs before a scale-down, the scale patch, its Event,
a status patch when `workerpools.status_due` says so, and the pool's report in the
broker (`crawlfleet_core.store.pools`), from which the API shows the fleet."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import kopf
import redis
from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import ValidationError

from crawlfleet_core import clock
from crawlfleet_core.resources import GROUP, VERSION
from crawlfleet_core.resources.workerpools import WorkerPoolSpec, WorkerPoolStatus
from crawlfleet_core.settings import get_settings
from crawlfleet_core.store import registry
from crawlfleet_core.store.pools import PoolReport, publish_pool_report, withdraw_pool_report
from crawlfleet_core.store.queues import QueueDepth, QueueGauge, broker_client
from crawlfleet_operator import cluster, metrics, workerpools
from crawlfleet_operator.autoscaling import Recommendation

WORKERPOOLS = (GROUP, VERSION, cluster.WORKERPOOLS)
INVALID_SPEC_RETRY_SECONDS = 10.0


@kopf.on.startup()
async def connect_broker(memo: kopf.Memo, **_: Any) -> None:
    """One gauge for every pool: they share its connection pool and its loaded script.
    `memo.pools` holds the pools being polled, for the health checks to see how recently."""
    settings = get_settings()
    memo.gauge = QueueGauge(broker_client(settings.broker_url, settings.redis_sentinel_master))
    memo.pools = {}


@kopf.on.cleanup()
async def disconnect_broker(memo: kopf.Memo, **_: Any) -> None:
    gauge: QueueGauge | None = memo.get("gauge")
    if gauge is not None:
        await gauge.client.aclose()


@dataclass
class Pool:
    """One WorkerPool's autoscaling memory: the recommendations of its
    stabilization windows and the status it last wrote."""

    namespace: str
    name: str
    gauge: QueueGauge
    api: cluster.WorkerPools
    history: tuple[Recommendation, ...] = ()
    status: WorkerPoolStatus = field(default_factory=WorkerPoolStatus)
    status_written_at: float = float("-inf")
    # When the last poll ended (monotonic seconds), and the interval the next one is due in.
    polled_at: float = field(default_factory=time.monotonic)
    interval: float = 1.0

    async def poll(self, spec: WorkerPoolSpec, generation: int | None, body: kopf.Body) -> None:
        metrics.pool_max_replicas.labels(self.namespace, self.name).set(spec.max_replicas)
        work = await self._measure(spec.queue)
        if not isinstance(work, Exception):
            await self._announce(spec)
        scale = await self.api.scale(self.namespace, spec.deployment)
        moment = time.monotonic()
        update = workerpools.pool_update(
            spec,
            work,
            None if scale is None else scale.replicas,
            self.history,
            self.status,
            generation=generation,
            now=clock.now(),
            moment=moment,
        )
        self.history = update.history
        if scale is not None:
            await self._apply_scale(spec.deployment, scale, update)
        if update.event is not None:
            kind, reason, message = update.event
            # Not kopf.info: that follows the posting level, which keeps kopf's own chatter out of Events.
            kopf.event(body, type=kind, reason=reason, message=message)
        if workerpools.status_due(self.status, update.status, moment - self.status_written_at):
            patch = update.status.model_dump(mode="json", by_alias=True, exclude_none=True)
            await self.api.patch_status(self.namespace, self.name, patch)
            self.status, self.status_written_at = update.status, moment
        await self._report(spec, update.status)

    async def _report(self, spec: WorkerPoolSpec, status: WorkerPoolStatus) -> None:
        """Best effort: the dashboard's view of the pool, in the broker beside its queue."""
        report = PoolReport(namespace=self.namespace, name=self.name, spec=spec, status=status, reported_at=clock.now())
        with contextlib.suppress(redis.RedisError, OSError):
            await publish_pool_report(self.gauge.client, report)

    async def _measure(self, queue: str) -> QueueDepth | Exception:
        labels = (self.namespace, self.name)
        try:
            depth = await self.gauge.depth(queue)
        except (redis.RedisError, OSError) as error:
            metrics.pool_measure_errors.labels(*labels).inc()
            return error
        metrics.pool_queued.labels(*labels).set(depth.waiting)
        metrics.pool_in_flight.labels(*labels).set(depth.in_flight)
        return depth

    async def _announce(self, spec: WorkerPoolSpec) -> None:
        """Tell the API the pool serves its queue, even while it has no worker (a failure
        only delays it: the announcement outlives a few polls)."""
        pipe = self.gauge.client.pipeline(transaction=False)
        registry.announce(pipe, [spec.queue], registry.pool_announcement_ttl(spec.poll_interval_seconds), time.time())
        with contextlib.suppress(redis.RedisError, OSError):
            await pipe.execute()

    async def _apply_scale(self, deployment: str, scale: cluster.Scale, update: workerpools.PoolUpdate) -> None:
        labels = (self.namespace, self.name)
        metrics.pool_current_replicas.labels(*labels).set(scale.replicas)
        if update.desired is None:
            return
        metrics.pool_desired_replicas.labels(*labels).set(update.desired)
        if update.desired == scale.replicas:
            return
        if update.rank_pods and scale.selector:
            await self._rank_pods(scale.selector)
        await self.api.set_replicas(self.namespace, deployment, update.desired)
        metrics.pool_scale_events.labels(*labels, "up" if update.desired > scale.replicas else "down").inc()

    async def _rank_pods(self, selector: str) -> None:
        """Best effort: without the workers' reports the scale-down goes ahead unranked."""
        annotations = await self.api.pod_annotations(self.namespace, selector)
        try:
            held = await self.gauge.held_tasks(list(annotations))
        except (redis.RedisError, OSError):
            return
        await self.api.annotate_pods(self.namespace, workerpools.deletion_costs(annotations, held))


@kopf.daemon(*WORKERPOOLS, cancellation_timeout=10.0)
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
    pool = Pool(namespace, name, memo.gauge, memo.workerpools)
    try:
        pool.status = WorkerPoolStatus.model_validate(dict(status))
    except ValidationError:
        logger.info("ignoring an unreadable status of %s/%s", namespace, name)
    memo.pools[namespace, name] = pool
    try:
        while not stopped:
            try:
                pool_spec = WorkerPoolSpec.model_validate(dict(spec))
            except ValidationError as error:
                # The CRD's schema should have refused it; wait for an edit rather than crash-loop.
                logger.error("invalid WorkerPool spec: %s", error)
                interval = INVALID_SPEC_RETRY_SECONDS
            else:
                try:
                    await pool.poll(pool_spec, meta.get("generation"), body)
                except ApiException as error:
                    logger.warning("Kubernetes API error, retrying at the next poll: %s %s", error.status, error.body)
                interval = pool_spec.poll_interval_seconds
            pool.polled_at, pool.interval = time.monotonic(), interval
            # On the wall clock's beat, so that pools with one interval poll together and
            # QueueGauge measures them all in one Redis call.
            await stopped.wait(interval - time.time() % interval)
    finally:
        memo.pools.pop((namespace, name), None)
        metrics.forget_pool(namespace, name)
        with contextlib.suppress(redis.RedisError, OSError):
            await withdraw_pool_report(pool.gauge.client, namespace, name)
