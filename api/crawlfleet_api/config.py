"""The gateway's settings: the platform's, plus what only the API needs."""

from __future__ import annotations

from pydantic import Field, PrivateAttr, model_validator

from crawlfleet_api.tokens import ApiToken
from crawlfleet_core.settings import CommaSeparatedStrings, Settings

MEBIBYTE = 1024 * 1024


class ApiSettings(Settings):
    """One object for the gateway, so that the job service it builds and the
    limits it enforces come from the same environment (`CRAWLFLEET_*`)."""

    api_tokens: CommaSeparatedStrings = Field(
        default_factory=list,
        repr=False,
        description=(
            "Comma-separated bearer tokens, each `token`, `tenant:token` or `tenant:token:role+role` "
            "(roles: submit, deploy, admin); empty turns authentication off."
        ),
    )
    max_body_bytes: int = Field(
        MEBIBYTE, ge=1, description="Largest request body accepted, in bytes; a larger one is answered 413."
    )
    submit_threads: int = Field(
        1,
        ge=1,
        le=64,
        description=(
            "Threads that write and publish submissions. One is fastest with Redis nearby: more threads "
            "contend for the interpreter's lock more than they gain; a distant Redis may want a few."
        ),
    )
    events_poll_seconds: float = Field(
        0.5, gt=0, le=10, description="How often the event streams of a job look for a change of its status."
    )
    events_max_streams_per_client: int = Field(
        100,
        ge=1,
        description=(
            "Most event streams one client (a token; an address while authentication is off) holds open at once; "
            "one more is answered 429."
        ),
    )
    events_max_seconds: float = Field(
        3600,
        gt=0,
        description="Longest an event stream stays open; it ends with a `timeout` event and the client reconnects.",
    )

    extra_queues: CommaSeparatedStrings = Field(
        default_factory=list,
        description=(
            "Queues jobs may name though no WorkerPool or worker serves them: comma-separated names or shell "
            "patterns (`batch-*`); `*` allows any. Jobs for other queues nobody serves are refused."
        ),
    )

    flower_url: str = Field(
        "",
        description="Address of Flower that the dashboard links to (e.g. http://127.0.0.1:5555); empty hides the link.",
    )

    _tokens: list[ApiToken] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _tokens_parse(self) -> ApiSettings:
        try:
            self._tokens = [ApiToken.parse(entry) for entry in self.api_tokens]
        except ValueError as error:
            raise ValueError(f"CRAWLFLEET_API_TOKENS: {error}") from None
        return self

    @property
    def tokens(self) -> list[ApiToken]:
        """The parsed tokens; empty when authentication is off."""
        return self._tokens
