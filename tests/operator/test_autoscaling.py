"""The scaling rule, decision by decision, as a reader of the pool's status would check it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from crawlfleet_core.resources.workerpools import ScalePolicy, WorkerPoolSpec
from crawlfleet_core.store.queues import QueueDepth
from crawlfleet_operator.autoscaling import (
    Decision,
    Recommendation,
    desired_replicas,
    measure_failed,
    step_limit,
)


def pool(**fields: Any) -> WorkerPoolSpec:
    defaults: dict[str, Any] = {"queue": "crawl", "deployment": "workers", "maxReplicas": 10, "tasksPerReplica": 4}
    return WorkerPoolSpec.model_validate(defaults | fields)


def decide(
    spec: WorkerPoolSpec,
    waiting: int,
    in_flight: int,
    current: int,
    history: tuple[Recommendation, ...] = (),
    now: float = 1000.0,
) -> Decision:
    return desired_replicas(spec, QueueDepth(waiting=waiting, in_flight=in_flight), current, history, now)


def test_a_jump_to_40_tasks_scales_to_ceil_of_work_over_tasks_per_replica_at_once() -> None:
    decision = decide(pool(), waiting=40, in_flight=0, current=1)
    assert (decision.replicas, decision.reason) == (10, "ScaledUp")
    assert "40 waiting + 0 in flight over 4 per replica wants 10" in decision.message


def test_more_work_than_max_replicas_is_clamped_and_says_so() -> None:
    decision = decide(pool(maxReplicas=6), waiting=40, in_flight=0, current=1)
    assert (decision.replicas, decision.limited) == (6, "TooManyReplicas")


def test_in_flight_tasks_count_as_work_when_the_list_is_empty() -> None:
    decision = decide(pool(), waiting=0, in_flight=9, current=3)
    assert decision.replicas == 3
    assert decision.reason == "Steady"


def test_one_task_in_flight_never_lets_the_pool_reach_zero() -> None:
    spec = pool(scaleDown={"stabilizationWindowSeconds": 0})
    assert decide(spec, waiting=0, in_flight=1, current=5).replicas == 1
    assert decide(spec, waiting=0, in_flight=0, current=5).replicas == 0


def test_scale_down_waits_for_the_window_then_goes_to_the_highest_recommendation_in_it() -> None:
    spec = pool(scaleDown={"stabilizationWindowSeconds": 60})
    first = decide(spec, waiting=0, in_flight=0, current=4, now=1000.0)
    assert (first.replicas, first.reason) == (4, "Stabilizing")
    middle = decide(spec, waiting=8, in_flight=0, current=4, history=first.history, now=1030.0)
    assert middle.replicas == 4
    before_window = decide(spec, waiting=0, in_flight=0, current=4, history=middle.history, now=1059.0)
    assert before_window.replicas == 4
    after_first = decide(spec, waiting=0, in_flight=0, current=4, history=before_window.history, now=1061.0)
    assert (after_first.replicas, after_first.reason) == (2, "ScaledDown")
    after_all = decide(spec, waiting=0, in_flight=0, current=2, history=after_first.history, now=1091.0)
    assert after_all.replicas == 0


def test_a_restarted_operator_waits_a_full_window_before_scaling_down() -> None:
    spec = pool(scaleDown={"stabilizationWindowSeconds": 30})
    assert decide(spec, waiting=0, in_flight=0, current=3, history=()).replicas == 3


def test_scaling_down_moves_at_most_one_step_per_decision() -> None:
    spec = pool(scaleDown={"stabilizationWindowSeconds": 0, "maxStep": 2})
    decision = decide(spec, waiting=0, in_flight=0, current=9)
    assert (decision.replicas, decision.limited) == (7, "ScaleDownStep")


def test_scaling_up_moves_at_most_one_step_per_decision() -> None:
    spec = pool(scaleUp={"maxStep": 3})
    assert decide(spec, waiting=40, in_flight=0, current=2).replicas == 5


def test_percent_step_is_at_least_one_replica_and_the_larger_limit_wins() -> None:
    assert step_limit(ScalePolicy(max_percent=50), 0) == 1
    assert step_limit(ScalePolicy(max_percent=50), 9) == 5
    assert step_limit(ScalePolicy(max_percent=10, max_step=4), 20) == 4
    assert step_limit(ScalePolicy(), 20) is None


def test_a_pool_at_zero_starts_only_above_the_activation_threshold() -> None:
    spec = pool(activationQueueLength=5)
    held = decide(spec, waiting=5, in_flight=0, current=0)
    assert (held.replicas, held.limited) == (0, "BelowActivation")
    assert decide(spec, waiting=6, in_flight=0, current=0).replicas == 2


def test_in_flight_entries_alone_do_not_wake_a_pool_at_zero() -> None:
    """At zero replicas an unacked entry belongs to a dead worker; kombu returns it to the list."""
    assert decide(pool(), waiting=0, in_flight=3, current=0).replicas == 0


def test_the_activation_threshold_does_not_apply_to_a_running_pool() -> None:
    assert decide(pool(activationQueueLength=100), waiting=5, in_flight=0, current=1).replicas == 2


def test_min_replicas_holds_an_idle_pool_up_even_at_zero() -> None:
    assert decide(pool(minReplicas=2), waiting=0, in_flight=0, current=0).replicas == 2


def test_a_lowered_max_applies_at_once_despite_the_window() -> None:
    spec = pool(maxReplicas=3, scaleDown={"stabilizationWindowSeconds": 300, "maxStep": 1})
    assert decide(spec, waiting=100, in_flight=0, current=8).replicas == 3


def test_scale_up_window_takes_the_lowest_recommendation_in_it() -> None:
    spec = pool(scaleUp={"stabilizationWindowSeconds": 10})
    first = decide(spec, waiting=4, in_flight=0, current=1, now=1000.0)
    assert first.replicas == 1
    burst = decide(spec, waiting=40, in_flight=0, current=1, history=first.history, now=1005.0)
    assert burst.replicas == 1
    sustained = decide(spec, waiting=40, in_flight=0, current=1, history=burst.history, now=1011.0)
    assert sustained.replicas == 10


def test_history_keeps_only_the_longest_window() -> None:
    spec = pool(scaleDown={"stabilizationWindowSeconds": 60})
    history = tuple(Recommendation(at, 5) for at in (800.0, 900.0, 950.0))
    kept = decide(spec, waiting=0, in_flight=0, current=5, history=history, now=1000.0).history
    assert [r.at for r in kept] == [950.0, 1000.0]


def test_a_redis_error_keeps_the_current_count_and_the_history() -> None:
    history = (Recommendation(990.0, 4),)
    decision = measure_failed(4, ConnectionError("Connection refused"), history)
    assert (decision.replicas, decision.changes, decision.reason) == (4, False, "QueueUnreadable")
    assert "Connection refused" in decision.message
    assert decision.history == history


def test_max_below_min_is_refused() -> None:
    with pytest.raises(ValidationError, match="maxReplicas must be at least minReplicas"):
        pool(minReplicas=5, maxReplicas=2)
