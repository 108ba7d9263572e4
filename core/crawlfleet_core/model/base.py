"""The one base of every model that crosses a wire: snake_case in Python,
camelCase in JSON, as in the Kubernetes API conventions and the REST API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """A model whose fields are camelCase on the wire and accepted by either name."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class SpecModel(CamelModel):
    """A model of what a user asks for: immutable, unknown fields refused (a typo
    must be an error, not a silently ignored setting), and strict about JSON types:
    `false` is not a priority, `1.0` not a page count and `"yes"` not a boolean."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
