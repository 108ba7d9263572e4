"""A platform of a test's own, with the shipped defaults: for the fault tests, whose
figures mean something only with the time limits, visibility timeout and restore
settings that production runs with (the session fixtures shorten the limits)."""

from __future__ import annotations

import json

import redis
from pydantic_core import PydanticUndefined

from crawlfleet_core.settings import Settings
from crawlfleet_core.store.keys import queue_lists


def production_env(broker_url: str, result_backend: str, job_store_url: str) -> dict[str, str]:
    """Every setting at its default but where Redis is, and loopback open to crawls.

    Each default is written out, so a worker started from a test process whose
    environment carries the session's shortened limits still runs with the defaults."""
    env = {
        f"CRAWLFLEET_{name.upper()}": str(field.default)
        for name, field in Settings.model_fields.items()
        if field.default is not PydanticUndefined and isinstance(field.default, (int, float, str))
    }
    return {
        **env,
        "CRAWLFLEET_BROKER_URL": broker_url,
        "CRAWLFLEET_RESULT_BACKEND": result_backend,
        "CRAWLFLEET_JOB_STORE_URL": job_store_url,
        "CRAWLFLEET_ALLOWED_NETWORKS": "127.0.0.0/8",
    }


def production_settings(env: dict[str, str]) -> Settings:
    return Settings(**{name.removeprefix("CRAWLFLEET_").lower(): value for name, value in env.items()})


def queued_task_ids(broker: redis.Redis, queue: str) -> set[str]:
    """Ids of the tasks waiting in `queue`, read from every priority list of it."""
    return {
        json.loads(message)["headers"]["id"] for name in queue_lists(queue) for message in broker.lrange(name, 0, -1)
    }
