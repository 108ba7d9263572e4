"""The one base of every model that crosses a wire: snake_case in Python,
camelCase in JSON, as in the Kubernetes API conventions and the REST API."""

from __future__ import annotations

from functools import cache
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """A model whose fields are camelCase on the wire and accepted by either name."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class SpecModel(CamelModel):
    """A model of what a user asks for: immutable, unknown fields refused (a typo
    must be an error, not a silently ignored setting), and strict about JSON types:
    `false` is not a priority, `1.5` not a page count and `"yes"` not a boolean."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _integral_numbers_are_integers(cls, data: Any) -> Any:
        """`83.0` is an integer to JSON Schema (and so to the published schemas),
        which strict validation alone would refuse."""
        if not isinstance(data, dict):
            return data
        integers = integer_keys(cls)
        return {
            key: int(value) if key in integers and isinstance(value, float) and value.is_integer() else value
            for key, value in data.items()
        }


@cache
def integer_keys(model: type[BaseModel]) -> frozenset[str]:
    """The names and aliases of `model`'s integer fields."""
    return frozenset(
        key
        for name, field in model.model_fields.items()
        if int in (field.annotation, *get_args(field.annotation))
        for key in (name, field.alias or name)
    )
