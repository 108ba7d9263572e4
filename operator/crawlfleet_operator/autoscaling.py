"""The scaling rule, as plain functions of what was measured: no Kubernetes, no
Redis, no clock of their own, so every branch is tested directly.

desired = clamp(ceil(work / tasksPerReplica), minReplicas, maxReplicas), where work =
waiting + in flight. Because in-flight tasks count as work, the rule never asks for
zero while a worker holds a task, which is what keeps a busy fleet alive when its
list is empty (the failure of list-length scalers). Around that:

* A pool at zero starts only when more than `activationQueueLength` tasks wait, so a
  trickle does not wake it; in-flight entries alone never wake it, as at zero they
  can only be tasks of dead workers, which kombu restores to the list.
* Stabilization follows the HorizontalPodAutoscaler: the pool goes down only to the
  highest count recommended during the scale-down window, and up only to the
  lowest during the scale-up window (0 s by default: at once). A fresh history
  starts with the current count, so an operator restart never skips a window.
* Each decision moves at most one step (`maxStep`, or `maxPercent` of the current
  count, the larger when both are set), then the bounds are applied, so a pool
  lowered below its current count by an edit of `maxReplicas` goes there at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from crawlfleet_core.resources.workerpools import ScalePolicy, WorkerPoolSpec
from crawlfleet_core.store.queues import QueueDepth


@dataclass(frozen=True)
class Recommendation:
    """A count the rule asked for at a moment (monotonic seconds)."""

    at: float
    replicas: int


@dataclass(frozen=True)
class Decision:
    """What to set the Deployment's replicas to, and why.

    `reason` is one CamelCase word for Events and conditions; `message` carries the
    inputs so that a reader of `kubectl describe wp` can redo the arithmetic."""

    replicas: int
    current: int
    recommended: int
    reason: str
    message: str
    history: tuple[Recommendation, ...]
    limited: str | None = None

    @property
    def changes(self) -> bool:
        return self.replicas != self.current


def step_limit(policy: ScalePolicy, current: int) -> int | None:
    """Most replicas one decision may add or remove; None when unlimited.

    A percent step is at least one replica, or a pool at zero could never leave it."""
    limits = []
    if policy.max_step is not None:
        limits.append(policy.max_step)
    if policy.max_percent is not None:
        limits.append(max(1, math.ceil(current * policy.max_percent / 100)))
    return max(limits) if limits else None


def recommended_replicas(spec: WorkerPoolSpec, depth: QueueDepth, current: int) -> tuple[int, str | None]:
    """The count the work asks for right now, before stabilization and steps, and
    which bound limited it (`TooFewReplicas`, `TooManyReplicas`, `BelowActivation`)."""
    if current == 0 and depth.waiting <= spec.activation_queue_length:
        return spec.min_replicas, ("BelowActivation" if depth.work > 0 and spec.min_replicas == 0 else None)
    wanted = math.ceil(depth.work / spec.tasks_per_replica)
    if wanted > spec.max_replicas:
        return spec.max_replicas, "TooManyReplicas"
    if wanted < spec.min_replicas:
        return spec.min_replicas, "TooFewReplicas"
    return wanted, None


def desired_replicas(
    spec: WorkerPoolSpec,
    depth: QueueDepth,
    current: int,
    history: Sequence[Recommendation],
    now: float,
) -> Decision:
    """Apply the scaling rule to one measurement.

    `history` is the previous decision's `history` (empty on the pool's first
    poll); `now` is monotonic seconds."""
    recommended, limited = recommended_replicas(spec, depth, current)
    horizon = max(spec.scale_up.stabilization_window_seconds, spec.scale_down.stabilization_window_seconds)
    seeded = list(history) or [Recommendation(now, current)]
    kept = (*(r for r in seeded if r.at > now - horizon), Recommendation(now, recommended))

    def within(window: int) -> list[int]:
        # A window of zero seconds is the latest recommendation alone (the seed shares its instant).
        return [r.replicas for r in kept if r.at > now - window] if window else [recommended]

    up_to = min(within(spec.scale_up.stabilization_window_seconds))
    down_to = max(within(spec.scale_down.stabilization_window_seconds))
    inputs = (
        f"{depth.waiting} waiting + {depth.in_flight} in flight over {spec.tasks_per_replica} per replica"
        f" wants {recommended}"
    )

    if up_to > current:
        target, reason = up_to, "ScaledUp"
        step = step_limit(spec.scale_up, current)
        if step is not None and target > current + step:
            target, limited = current + step, "ScaleUpStep"
    elif down_to < current:
        target, reason = down_to, "ScaledDown"
        step = step_limit(spec.scale_down, current)
        if step is not None and target < current - step:
            target, limited = current - step, "ScaleDownStep"
    else:
        target, reason = current, ("Steady" if recommended == current else "Stabilizing")

    bounded = min(max(target, spec.min_replicas), spec.max_replicas)
    if bounded != target:
        reason = "ScaledUp" if bounded > current else "ScaledDown"
        target = bounded
    message = f"{inputs}; {current} -> {target} replicas"
    if reason == "Stabilizing":
        message += f" (held by the stabilization window: it saw {up_to} to {down_to} wanted)"
    if limited is not None:
        message += f" [{limited}]"
    return Decision(
        replicas=target,
        current=current,
        recommended=recommended,
        reason=reason,
        message=message,
        history=kept,
        limited=limited,
    )


def measure_failed(current: int, error: BaseException, history: Sequence[Recommendation]) -> Decision:
    """On a broker error the pool keeps its count: guessing low would kill running
    crawls, guessing high would burn nodes. The history is kept as it was, so an
    outage neither starts nor ends a stabilization window."""
    return Decision(
        replicas=current,
        current=current,
        recommended=current,
        reason="QueueUnreadable",
        message=f"cannot read the queue, keeping {current} replicas: {type(error).__name__}: {error}"[:1024],
        history=tuple(history),
    )
