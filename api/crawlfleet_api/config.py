"""The gateway's settings: the platform's, plus what only the API needs."""

from __future__ import annotations

from pydantic import Field

from crawlfleet_core.settings import CommaSeparatedStrings, Settings

MEBIBYTE = 1024 * 1024


class ApiSettings(Settings):
    """One object for the gateway, so that the job service it builds and the
    limits it enforces come from the same environment (`CRAWLFLEET_*`)."""

    api_tokens: CommaSeparatedStrings = Field(
        default_factory=list,
        repr=False,
        description="Comma-separated bearer tokens accepted on /v1 routes; empty turns authentication off.",
    )
    max_body_bytes: int = Field(
        MEBIBYTE, ge=1, description="Largest request body accepted, in bytes; a larger one is answered 413."
    )
    events_poll_seconds: float = Field(
        0.5, gt=0, le=10, description="How often a job's event stream looks for a change of its status."
    )
