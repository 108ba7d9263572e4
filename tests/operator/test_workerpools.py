"""What one poll of a WorkerPool decides, as `kubectl describe wp` would show it:
replicas, conditions, Events, and when the status is worth a write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crawlfleet_core.resources.workerpools import WorkerPoolSpec, WorkerPoolStatus
from crawlfleet_core.store.queues import QueueDepth
from crawlfleet_operator.autoscaling import Recommendation
from crawlfleet_operator.workerpools import (
    DELETION_COST,
    QUEUE_READABLE,
    SCALING_ACTIVE,
    SCALING_LIMITED,
    STATUS_REFRESH_SECONDS,
    PoolUpdate,
    deletion_costs,
    pool_update,
    status_due,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
REDIS_DOWN = ConnectionError("Connection refused")


def pool(**fields: Any) -> WorkerPoolSpec:
    defaults: dict[str, Any] = {
        "queue": "crawl",
        "deployment": "workers",
        "maxReplicas": 10,
        "tasksPerReplica": 4,
        "scaleDown": {"stabilizationWindowSeconds": 0},
    }
    return WorkerPoolSpec.model_validate(defaults | fields)


def poll(
    spec: WorkerPoolSpec,
    work: QueueDepth | Exception,
    replicas: int | None,
    previous: WorkerPoolStatus | None = None,
    history: tuple[Recommendation, ...] = (),
    *,
    now: datetime = T0,
    generation: int = 1,
) -> PoolUpdate:
    return pool_update(
        spec,
        work,
        replicas,
        history,
        previous or WorkerPoolStatus(),
        generation=generation,
        now=now,
        moment=(now - T0).total_seconds(),
    )


def condition(status: WorkerPoolStatus, type_: str) -> tuple[str, str, str]:
    found = [c for c in status.conditions if c.type == type_]
    assert len(found) == 1, status.conditions
    return found[0].status, found[0].reason, found[0].message


def test_a_measured_queue_that_needs_more_replicas_scales_up_with_an_event() -> None:
    update = poll(pool(), QueueDepth(waiting=40, in_flight=0), replicas=1)
    message = "40 waiting + 0 in flight over 4 per replica wants 10; 1 -> 10 replicas"
    assert (update.desired, update.rank_pods) == (10, False)
    assert update.event == ("Normal", "ScaledUp", message)
    status = update.status
    assert (status.queued, status.in_flight, status.current_replicas, status.desired_replicas) == (40, 0, 1, 10)
    assert (status.last_scale_time, status.last_scale_reason, status.observed_generation) == (T0, message, 1)
    assert condition(status, QUEUE_READABLE) == ("True", "Measured", "queue 'crawl'")
    assert condition(status, SCALING_ACTIVE) == ("True", "QueueMeasured", message)
    assert condition(status, SCALING_LIMITED) == ("False", "WithinBounds", message)
    assert all(c.observed_generation == 1 and c.last_transition_time == T0 for c in status.conditions)


def test_a_scale_down_ranks_the_pods_first() -> None:
    update = poll(pool(), QueueDepth(waiting=4, in_flight=0), replicas=3)
    assert (update.desired, update.rank_pods) == (1, True)
    assert update.event is not None
    assert update.event[:2] == ("Normal", "ScaledDown")


def test_a_steady_pool_posts_nothing_and_keeps_its_last_scale() -> None:
    scaled = poll(pool(), QueueDepth(waiting=8, in_flight=0), replicas=1)
    later = T0 + timedelta(seconds=1)
    steady = poll(pool(), QueueDepth(waiting=8, in_flight=0), replicas=2, previous=scaled.status, now=later)
    assert (steady.desired, steady.event, steady.rank_pods) == (2, None, False)
    assert steady.status.last_scale_time == T0
    assert steady.status.last_scale_reason == scaled.status.last_scale_reason


def test_a_bound_that_limits_the_count_is_a_condition() -> None:
    update = poll(pool(maxReplicas=6), QueueDepth(waiting=40, in_flight=0), replicas=6)
    assert update.desired == 6
    assert update.event is None
    assert condition(update.status, SCALING_LIMITED)[:2] == ("True", "TooManyReplicas")


def test_a_redis_error_keeps_the_replicas_the_history_and_the_last_counts() -> None:
    measured = poll(pool(), QueueDepth(waiting=8, in_flight=0), replicas=2)
    history = (Recommendation(0.0, 2),)
    failed = poll(
        pool(), REDIS_DOWN, replicas=2, previous=measured.status, history=history, now=T0 + timedelta(seconds=1)
    )
    assert (failed.desired, failed.rank_pods, failed.history) == (2, False, history)
    assert (failed.status.queued, failed.status.in_flight) == (8, 0)
    assert condition(failed.status, QUEUE_READABLE) == ("False", "RedisError", "Connection refused")
    assert condition(failed.status, SCALING_ACTIVE)[:2] == ("False", "QueueUnreadable")
    assert failed.event is not None
    kind, reason, message = failed.event
    assert (kind, reason) == ("Warning", "QueueUnreadable")
    assert "keeping 2 replicas: ConnectionError: Connection refused" in message


def test_a_redis_outage_is_one_warning_not_one_per_poll() -> None:
    first = poll(pool(), REDIS_DOWN, replicas=2)
    assert first.event is not None
    assert first.event[:2] == ("Warning", "QueueUnreadable")
    again = poll(pool(), REDIS_DOWN, replicas=2, previous=first.status, now=T0 + timedelta(seconds=1))
    assert again.event is None


def test_a_missing_deployment_is_a_condition_and_nothing_is_decided() -> None:
    history = (Recommendation(0.0, 3),)
    before = WorkerPoolStatus(current_replicas=3, desired_replicas=3)
    update = poll(pool(), QueueDepth(waiting=40, in_flight=0), replicas=None, previous=before, history=history)
    assert (update.desired, update.event, update.rank_pods, update.history) == (None, None, False, history)
    assert (update.status.current_replicas, update.status.desired_replicas, update.status.queued) == (3, 3, 40)
    assert condition(update.status, SCALING_ACTIVE) == (
        "False",
        "DeploymentNotFound",
        "no Deployment 'workers' in the pool's namespace",
    )
    assert condition(update.status, QUEUE_READABLE)[:2] == ("True", "Measured")


def test_a_paused_pool_measures_but_decides_nothing_and_forgets_its_windows() -> None:
    before = WorkerPoolStatus(desired_replicas=1)
    history = (Recommendation(0.0, 1),)
    update = poll(pool(paused=True), QueueDepth(waiting=40, in_flight=2), replicas=3, previous=before, history=history)
    assert (update.desired, update.event, update.rank_pods, update.history) == (None, None, False, ())
    status = update.status
    assert (status.queued, status.in_flight, status.current_replicas, status.desired_replicas) == (40, 2, 3, 1)
    assert condition(status, SCALING_ACTIVE) == ("False", "Paused", "spec.paused is true")
    assert condition(status, QUEUE_READABLE)[:2] == ("True", "Measured")


def test_condition_transition_time_moves_only_when_its_status_does() -> None:
    first = poll(pool(), QueueDepth(waiting=0, in_flight=0), replicas=0, now=T0, generation=1)
    later = poll(
        pool(), QueueDepth(waiting=0, in_flight=0), 0, first.status, now=T0 + timedelta(minutes=1), generation=2
    )
    readable = next(c for c in later.status.conditions if c.type == QUEUE_READABLE)
    assert readable.last_transition_time == T0
    assert readable.observed_generation == 2
    failed = poll(pool(), REDIS_DOWN, 0, later.status, now=T0 + timedelta(minutes=2), generation=2)
    unreadable = [c for c in failed.status.conditions if c.type == QUEUE_READABLE]
    assert len(unreadable) == 1
    assert (unreadable[0].status, unreadable[0].last_transition_time) == ("False", T0 + timedelta(minutes=2))


def test_a_status_that_says_something_new_is_written_at_once() -> None:
    before = poll(pool(), QueueDepth(waiting=8, in_flight=0), replicas=2).status
    scaled = poll(pool(), QueueDepth(waiting=40, in_flight=0), 2, before, now=T0 + timedelta(seconds=1)).status
    unreadable = poll(pool(), REDIS_DOWN, 2, before, now=T0 + timedelta(seconds=1)).status
    edited = poll(pool(), QueueDepth(waiting=8, in_flight=0), 2, before, generation=2).status
    for after in (scaled, unreadable, edited):
        assert status_due(before, after, seconds_since_written=0.1)


def test_counts_alone_wait_for_the_refresh_interval() -> None:
    before = poll(pool(), QueueDepth(waiting=8, in_flight=0), replicas=2).status
    busier = poll(pool(), QueueDepth(waiting=7, in_flight=1), 2, before, now=T0 + timedelta(seconds=1)).status
    assert busier.desired_replicas == before.desired_replicas
    assert not status_due(before, busier, seconds_since_written=STATUS_REFRESH_SECONDS - 0.1)
    assert status_due(before, busier, seconds_since_written=STATUS_REFRESH_SECONDS)
    assert not status_due(before, before, seconds_since_written=3600)


def test_idle_pods_cost_least_and_unchanged_costs_are_not_rewritten() -> None:
    annotations = {"busy": {DELETION_COST: "2"}, "idle": {}, "silent": {"team": "crawl"}, "freed": {DELETION_COST: "1"}}
    held = {"busy": 2, "idle": 0, "freed": 0}
    assert deletion_costs(annotations, held) == {
        "idle": {DELETION_COST: "0"},
        "silent": {DELETION_COST: "0"},
        "freed": {DELETION_COST: "0"},
    }
