"""What one poll of a WorkerPool decides: the Deployment's replicas, the pool's
status and conditions, the Event worth posting, and which pods to rank first.

Plain functions of plain values, like `scrapejobs` for ScrapeJobs: the daemon in
`pool_handlers` measures the queue and reads the Deployment's scale, calls
`pool_update`, and applies what it returns, so every rule of the conditions and
the Events is tested without an API server or Redis. The count itself comes from
the scaling rule in `autoscaling`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from crawlfleet_core.model.conditions import set_condition
from crawlfleet_core.resources.workerpools import WorkerPoolSpec, WorkerPoolStatus
from crawlfleet_core.store.queues import QueueDepth
from crawlfleet_operator.autoscaling import Recommendation, desired_replicas, measure_failed

# Condition types of a WorkerPool.
QUEUE_READABLE = "QueueReadable"
SCALING_ACTIVE = "ScalingActive"
SCALING_LIMITED = "ScalingLimited"

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
# Counts alone (queued, in flight) reach the status at most this often; metrics carry them live.
STATUS_REFRESH_SECONDS = 5.0

Event = tuple[str, str, str]  # type, reason, message


@dataclass(frozen=True)
class PoolUpdate:
    """What a poll decided.

    `desired` is what the scaling rule asked for, None when it was not asked (no
    Deployment, or the pool is paused); `history` replaces the pool's stabilization
    history; `rank_pods` asks for the pods' deletion costs before a scale-down."""

    status: WorkerPoolStatus
    history: tuple[Recommendation, ...]
    desired: int | None = None
    event: Event | None = None
    rank_pods: bool = False


def pool_update(
    spec: WorkerPoolSpec,
    work: QueueDepth | Exception,
    replicas: int | None,
    history: tuple[Recommendation, ...],
    previous: WorkerPoolStatus,
    *,
    generation: int | None,
    now: datetime,
    moment: float,
) -> PoolUpdate:
    """Decide one poll.

    `work` is the queue's measurement, or the error that prevented it; `replicas`
    the Deployment's current count, None when it does not exist; `previous` the
    status as last written. `now` stamps the conditions; `moment` (monotonic
    seconds) places the decision in the stabilization windows, so that a step of
    the wall clock never opens or closes one."""
    mark = partial(set_condition, now=now, generation=generation)
    measured = isinstance(work, QueueDepth)
    conditions = mark(
        previous.conditions,
        type_=QUEUE_READABLE,
        status=measured,
        reason="Measured" if measured else "RedisError",
        message=f"queue {spec.queue!r}" if measured else str(work),
    )
    seen = previous.model_copy(update={"observed_generation": generation})
    if isinstance(work, QueueDepth):
        seen = seen.model_copy(update={"queued": work.waiting, "in_flight": work.in_flight})

    if replicas is None:
        missing = f"no Deployment {spec.deployment!r} in the pool's namespace"
        conditions = mark(conditions, type_=SCALING_ACTIVE, status=False, reason="DeploymentNotFound", message=missing)
        return PoolUpdate(seen.model_copy(update={"conditions": conditions}), history)
    seen = seen.model_copy(update={"current_replicas": replicas})

    if spec.paused:
        conditions = mark(
            conditions, type_=SCALING_ACTIVE, status=False, reason="Paused", message="spec.paused is true"
        )
        # The windows are forgotten: a resumed pool starts a fresh one from the count it finds.
        return PoolUpdate(seen.model_copy(update={"conditions": conditions}), ())

    if isinstance(work, QueueDepth):
        decision = desired_replicas(spec, work, replicas, history, moment)
    else:
        decision = measure_failed(replicas, work, history)
    conditions = mark(
        conditions,
        type_=SCALING_ACTIVE,
        status=measured,
        reason="QueueMeasured" if measured else "QueueUnreadable",
        message=decision.message,
    )
    conditions = mark(
        conditions,
        type_=SCALING_LIMITED,
        status=decision.limited is not None,
        reason=decision.limited or "WithinBounds",
        message=decision.message,
    )
    status = seen.model_copy(update={"conditions": conditions, "desired_replicas": decision.replicas})
    event: Event | None = None
    if decision.changes:
        status = status.model_copy(update={"last_scale_time": now, "last_scale_reason": decision.message})
        event = ("Normal", decision.reason, decision.message)
    elif not measured and _condition_status(previous, QUEUE_READABLE) != "False":
        # Once per outage, not once per poll.
        event = ("Warning", decision.reason, decision.message)
    return PoolUpdate(
        status, decision.history, desired=decision.replicas, event=event, rank_pods=decision.replicas < replicas
    )


def _condition_status(status: WorkerPoolStatus, type_: str) -> str | None:
    return next((c.status for c in status.conditions if c.type == type_), None)


def status_due(before: WorkerPoolStatus, after: WorkerPoolStatus, seconds_since_written: float) -> bool:
    """Whether `after` is worth a status patch over `before`, the status last written.

    A scale, a condition's status or reason, the replicas or the generation are
    written at once; counts and messages alone wait `STATUS_REFRESH_SECONDS`, so
    that a busy queue does not turn every poll into a write to the API server."""
    essential = (
        after.last_scale_time != before.last_scale_time
        or [(c.type, c.status, c.reason) for c in after.conditions]
        != [(c.type, c.status, c.reason) for c in before.conditions]
        or after.desired_replicas != before.desired_replicas
        or after.current_replicas != before.current_replicas
        or after.observed_generation != before.observed_generation
    )
    return essential or (after != before and seconds_since_written >= STATUS_REFRESH_SECONDS)


def deletion_costs(annotations: Mapping[str, Mapping[str, str]], held: Mapping[str, int]) -> dict[str, dict[str, str]]:
    """The pod-deletion-cost annotation each pod needs, for the pods whose cost
    changes: the tasks its worker holds, so the ReplicaSet removes idle pods first.

    A pod whose worker has not reported costs 0. Best effort, by design: a worker
    that takes a task between the ranking and the scale patch is protected by warm
    shutdown and acks_late instead (see docs/autoscaling.md)."""
    costs = {pod: str(held.get(pod, 0)) for pod in annotations}
    return {pod: {DELETION_COST: cost} for pod, cost in costs.items() if annotations[pod].get(DELETION_COST) != cost}
