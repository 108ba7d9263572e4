"""Status conditions in the Kubernetes API conventions, shared by every resource."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from crawlfleet_core.model.base import CamelModel

CONDITION_TYPE_PATTERN = r"^[A-Z][A-Za-z0-9]{0,63}$"
# Kubernetes conventions: a CamelCase reason, machine readable.
REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
MAX_REASON_MESSAGE_LENGTH = 1024

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(CamelModel):
    """A condition in the Kubernetes API conventions."""

    type: Annotated[str, StringConstraints(max_length=64, pattern=CONDITION_TYPE_PATTERN)] = Field(
        description="What the condition is about, in CamelCase."
    )
    status: ConditionStatus = Field(description="Whether the condition holds.")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=REASON_PATTERN)] = Field(
        description="Why, as one CamelCase word."
    )
    message: Annotated[str, StringConstraints(max_length=MAX_REASON_MESSAGE_LENGTH)] = Field(
        "", description="Why, for a human."
    )
    last_transition_time: datetime = Field(description="When the status last changed.")
    observed_generation: int | None = Field(
        None, ge=0, description="The object's metadata.generation the condition was computed from."
    )


def set_condition(
    conditions: Sequence[Condition],
    *,
    type_: str,
    status: ConditionStatus | bool,
    reason: str,
    message: str = "",
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """`conditions` with the one of `type_` set, in its place (or appended when new).

    Its lastTransitionTime moves only when its status does, as the Kubernetes API
    conventions ask, so a reader can tell how long a pool has been limited or a job
    has been running. A message longer than the API allows is cut, never refused."""
    wanted: ConditionStatus = ("True" if status else "False") if isinstance(status, bool) else status
    previous = next((c for c in conditions if c.type == type_), None)
    updated = Condition(
        type=type_,
        status=wanted,
        reason=reason,
        message=message[:MAX_REASON_MESSAGE_LENGTH],
        last_transition_time=previous.last_transition_time if previous and previous.status == wanted else now,
        observed_generation=generation,
    )
    if previous is None:
        return [*conditions, updated]
    return [updated if c.type == type_ else c for c in conditions]
