"""Status conditions in the Kubernetes API conventions, shared by every resource."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

CONDITION_TYPE_PATTERN = r"^[A-Z][A-Za-z0-9]{0,63}$"
# Kubernetes conventions: a CamelCase reason, machine readable.
REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
MAX_REASON_MESSAGE_LENGTH = 1024


class Condition(BaseModel):
    """A condition in the Kubernetes API conventions."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    type: Annotated[str, StringConstraints(max_length=64, pattern=CONDITION_TYPE_PATTERN)] = Field(
        description="What the condition is about, in CamelCase."
    )
    status: Literal["True", "False", "Unknown"] = Field(description="Whether the condition holds.")
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
