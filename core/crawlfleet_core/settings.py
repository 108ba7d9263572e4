"""Platform settings, read from `CRAWLFLEET_*` environment variables."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Annotated

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def split_commas(value: object) -> object:
    """`a, b,c` in an environment variable is the list [a, b, c]."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# NoDecode: pydantic-settings would otherwise expect JSON for a list variable.
CommaSeparatedStrings = Annotated[list[str], NoDecode, BeforeValidator(split_commas)]
CommaSeparatedNetworks = Annotated[list[Network], NoDecode, BeforeValidator(split_commas)]


class Settings(BaseSettings):
    """Every setting has an environment variable `CRAWLFLEET_<NAME>` and a default."""

    # Inputs stay out of error messages: they hold Redis passwords and API tokens.
    model_config = SettingsConfigDict(env_prefix="CRAWLFLEET_", extra="ignore", hide_input_in_errors=True)

    broker_url: str = Field("redis://127.0.0.1:6379/0", description="Celery broker: Redis database holding the queues.")
    result_backend: str = Field(
        "redis://127.0.0.1:6379/1", description="Celery result backend: Redis database holding task states."
    )
    job_store_url: str = Field(
        "redis://127.0.0.1:6379/2",
        description="Redis database holding job records, items streams, logs, idempotency keys and projects.",
    )
    redis_sentinel_master: str = Field(
        "",
        description="Name of the Redis primary the sentinels watch (their `monitor` name); needed when a Redis URL"
        " is a sentinel:// one.",
    )
    redis_outage_seconds: int = Field(
        60,
        ge=0,
        description="How long a worker retries Redis (a Sentinel failover, a restart) before a write of a job's"
        " result, record or items fails; longer than the sentinels' down-after-milliseconds plus a failover.",
    )
    result_ttl_seconds: int = Field(
        7 * 24 * 3600, ge=60, description="How long job states, records and items are kept after submission."
    )
    max_shards: int = Field(
        8, ge=1, le=64, description="Most crawl processes (`shards`) one job may ask for; more is refused (422)."
    )
    soft_time_limit_seconds: int = Field(
        3600, ge=1, description="Longest a crawl may run before it is asked to stop (Celery soft time limit)."
    )
    hard_time_limit_seconds: int = Field(
        3900, ge=1, description="Longest a crawl may run before its process is killed (Celery hard time limit)."
    )
    visibility_timeout_seconds: int = Field(
        4200,
        ge=1,
        description="Seconds before an unacknowledged task is redelivered; longer than the hard time limit.",
    )
    items_max_per_job: int = Field(
        100_000, ge=1, description="Most items kept per job; older ones are trimmed from its stream."
    )
    allowed_networks: CommaSeparatedNetworks = Field(
        default_factory=list,
        description="Comma-separated CIDRs that crawls may reach although private, loopback or link-local.",
    )
    default_queue: str = Field("default", description="Queue (worker pool) of jobs that name none.")
    log_max_lines_per_job: int = Field(
        10_000, ge=100, description="Most lines kept of a job's crawl log; older ones are trimmed."
    )
    feeds_s3_buckets: CommaSeparatedStrings = Field(
        default_factory=list,
        description="Comma-separated S3 buckets that job feeds may write to; empty turns feeds off.",
    )
    feeds_s3_endpoint_url: str = Field(
        "", description="Endpoint of an S3-compatible store for feeds; empty means Amazon S3."
    )
    feeds_s3_region: str = Field("", description="Region of the feeds' S3 store; empty lets boto3 choose.")
    feeds_s3_access_key_id: str = Field("", repr=False, description="Access key id for the feeds' S3 store.")
    feeds_s3_secret_access_key: str = Field("", repr=False, description="Secret access key for the feeds' S3 store.")
    webhook_secret: str = Field(
        "",
        repr=False,
        description="Key of the HMAC-SHA256 signature on job webhooks; empty turns callbackUrl off.",
    )
    webhook_attempts: int = Field(6, ge=1, le=20, description="Deliveries tried per webhook before giving up.")
    webhook_backoff_seconds: float = Field(
        5.0, gt=0, le=3600, description="Wait before a webhook's first retry; doubled for each later one."
    )

    @model_validator(mode="after")
    def _limits_ordered(self) -> Settings:
        if not self.soft_time_limit_seconds < self.hard_time_limit_seconds < self.visibility_timeout_seconds:
            raise ValueError(
                "need CRAWLFLEET_SOFT_TIME_LIMIT_SECONDS < CRAWLFLEET_HARD_TIME_LIMIT_SECONDS"
                " < CRAWLFLEET_VISIBILITY_TIMEOUT_SECONDS, or a running job could be redelivered"
            )
        return self

    @model_validator(mode="after")
    def _sentinel_master_named(self) -> Settings:
        sentinel_urls = [url for url in self.redis_urls().values() if url.startswith("sentinel://")]
        if sentinel_urls and not self.redis_sentinel_master:
            raise ValueError(
                "CRAWLFLEET_REDIS_SENTINEL_MASTER must name the primary the sentinels watch when a Redis URL"
                f" is a sentinel:// one ({sentinel_urls[0]})"
            )
        return self

    def redis_urls(self) -> dict[str, str]:
        """The three Redis databases the platform uses, by what they hold."""
        return {"broker": self.broker_url, "resultBackend": self.result_backend, "jobStore": self.job_store_url}


@lru_cache
def get_settings() -> Settings:
    """The process's settings; tests and entry points may clear the cache after changing the environment."""
    return Settings()
