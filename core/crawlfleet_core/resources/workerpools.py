"""The WorkerPool model: the single source of the WorkerPool CRD's spec and status
schemas and of what the operator's autoscaler reads and writes.

Only shapes a structural CRD schema can express are used: scalars with bounds,
bounded strings, lists and nested objects, and `Optional` (never another union).
Rules that span fields are carried as CEL rules (`x-kubernetes-validations`) in the
JSON schema, so the API server rejects them at admission, and are checked again here
for anyone building a spec in Python."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from crawlfleet_core.model.base import CamelModel, SpecModel
from crawlfleet_core.model.conditions import MAX_REASON_MESSAGE_LENGTH, Condition
from crawlfleet_core.model.jobs import QUEUE_PATTERN

# A Deployment name is a DNS-1123 subdomain.
DEPLOYMENT_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

MAX_REPLICAS_LIMIT = 10_000


class ScalePolicy(SpecModel):
    """How fast a pool may move in one direction.

    A step limit exists because a flood of tasks that lasts seconds should not
    start a hundred pods, and a queue that empties should not drop a fleet at once."""

    stabilization_window_seconds: int = Field(
        0,
        ge=0,
        le=3600,
        description=(
            "Seconds of history the autoscaler looks back over: scaling down goes only to the highest count "
            "wanted during the window, scaling up only to the lowest."
        ),
    )
    max_step: int | None = Field(
        None,
        ge=1,
        le=MAX_REPLICAS_LIMIT,
        description="Most replicas added or removed in one decision; unset means no limit.",
    )
    max_percent: int | None = Field(
        None,
        ge=1,
        le=1000,
        description=(
            "Most replicas added or removed in one decision, as a percent of the current count (rounded up); "
            "with maxStep set too, the larger of the two applies, as in the HorizontalPodAutoscaler."
        ),
    )


class WorkerPoolSpec(SpecModel):
    """Which Celery queue feeds which worker Deployment, and the bounds the
    autoscaler keeps that Deployment's replicas within."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.maxReplicas >= self.minReplicas",
                    "message": "maxReplicas must be at least minReplicas",
                }
            ]
        },
    )

    queue: Annotated[str, StringConstraints(max_length=63, pattern=QUEUE_PATTERN)] = Field(
        description="Celery queue whose work this pool runs; every priority sub-list of it is counted."
    )
    deployment: Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=DEPLOYMENT_PATTERN)] = Field(
        description="Name of the worker Deployment, in the pool's namespace, whose scale the autoscaler sets."
    )
    min_replicas: int = Field(
        0, ge=0, le=MAX_REPLICAS_LIMIT, description="Fewest replicas; 0 lets an idle pool scale to zero."
    )
    max_replicas: int = Field(10, ge=1, le=MAX_REPLICAS_LIMIT, description="Most replicas.")
    tasks_per_replica: int = Field(
        1,
        ge=1,
        le=1000,
        description="Tasks one replica runs at once: the worker's Celery concurrency times its prefetch.",
    )
    activation_queue_length: int = Field(
        0,
        ge=0,
        le=1_000_000,
        description="A pool at zero replicas starts only when more than this many tasks wait.",
    )
    poll_interval_seconds: float = Field(
        1.0, ge=0.2, le=300.0, description="Seconds between two measurements of the queue."
    )
    scale_up: ScalePolicy = Field(
        ScalePolicy(stabilization_window_seconds=0), description="Limits on adding replicas; by default at once."
    )
    scale_down: ScalePolicy = Field(
        ScalePolicy(stabilization_window_seconds=60),
        description="Limits on removing replicas; by default after 60 seconds of less work.",
    )
    paused: bool = Field(False, description="Leave the Deployment's replicas alone while true.")

    @model_validator(mode="after")
    def _bounds_ordered(self) -> WorkerPoolSpec:
        if self.max_replicas < self.min_replicas:
            raise ValueError("maxReplicas must be at least minReplicas")
        return self


class WorkerPoolStatus(CamelModel):
    """What the autoscaler saw and did last, so `kubectl get wp` answers why the
    fleet has the replicas it has."""

    queued: int | None = Field(None, ge=0, description="Tasks waiting in the queue's lists at the last poll.")
    in_flight: int | None = Field(
        None, ge=0, description="Tasks taken by workers and not yet acknowledged (prefetched or running)."
    )
    desired_replicas: int | None = Field(None, ge=0, description="Replicas the autoscaler last asked for.")
    current_replicas: int | None = Field(None, ge=0, description="The Deployment's replicas at the last poll.")
    last_scale_time: datetime | None = Field(None, description="When the autoscaler last changed the replicas.")
    last_scale_reason: Annotated[str, StringConstraints(max_length=MAX_REASON_MESSAGE_LENGTH)] | None = Field(
        None, description="Why it did, with the inputs of that decision."
    )
    observed_generation: int | None = Field(
        None, ge=0, description="The pool's metadata.generation the autoscaler last acted on."
    )
    conditions: list[Condition] = Field(
        default_factory=list, max_length=16, description="Latest observations of the pool's state."
    )
