"""Job records and item streams in the job store (a Redis database).

The result backend knows a task's state only once a worker touched it, and says
PENDING for any id it never saw. The record is what makes an unknown id a 404 and
holds what Celery keeps nowhere: the spec, when the job was submitted, received
and finished, whether it was cancelled, and its last progress."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from crawlfleet_core import keys
from crawlfleet_core.jobs import JobSpec


class Progress(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    pages: int = Field(0, description="Pages downloaded and parsed.")
    items: int = Field(0, description="Items scraped.")
    errors: int = Field(0, description="Requests that failed.")
    percent: float = Field(0.0, description="Estimated share of the crawl done, 0 to 100.")


class JobRecord(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    spec: JobSpec
    source: str
    submitted_at: datetime
    published_at: datetime | None = None
    received_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    revoked_at: datetime | None = None
    progress: Progress = Field(default_factory=Progress)


class ItemsPage(BaseModel):
    """A page of a job's items and where the next page starts.

    The cursor is a position, not a promise of more: a client reading a running
    job keeps the last `nextCursor` and asks again later for what came since."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    items: list[dict[str, Any]] = Field(description="Items in the order they were scraped: `url` plus the fields.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to read on after this page; null only before the job's first item."
    )
    has_more: bool = Field(description="Whether more items are stored after this page right now.")


TIMESTAMPS = ("published_at", "received_at", "started_at", "finished_at", "revoked_at")


def now() -> datetime:
    return datetime.now(UTC)


class JobStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int, items_max: int) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.items_max = items_max

    @classmethod
    def from_url(cls, url: str, ttl_seconds: int, items_max: int) -> JobStore:
        return cls(redis.Redis.from_url(url, decode_responses=True), ttl_seconds, items_max)

    def create(self, job_id: str, spec: JobSpec, source: str) -> bool:
        """Write a new record; False when the id already has one (a repeated submission)."""
        key = keys.job_record(job_id)
        if not self.client.hsetnx(key, "submitted_at", now().isoformat()):
            return False
        pipe = self.client.pipeline()
        pipe.hset(key, mapping={"spec": spec.model_dump_json(by_alias=True), "source": source})
        pipe.expire(key, self.ttl_seconds)
        pipe.execute()
        return True

    def delete(self, job_id: str) -> None:
        self.client.delete(keys.job_record(job_id), keys.job_items(job_id))

    def mark(self, job_id: str, event: str) -> None:
        """Stamp `event` (one of TIMESTAMPS) with the current time, if the record exists."""
        if event not in TIMESTAMPS:
            raise ValueError(f"unknown job event {event!r}")
        key = keys.job_record(job_id)
        if self.client.exists(key):
            self.client.hset(key, event, now().isoformat())

    def set_progress(self, job_id: str, progress: Progress) -> None:
        self.client.hset(keys.job_record(job_id), "progress", progress.model_dump_json())

    def get(self, job_id: str) -> JobRecord | None:
        fields = self.client.hgetall(keys.job_record(job_id))
        if "spec" not in fields:
            return None
        return JobRecord(
            id=job_id,
            spec=JobSpec.model_validate_json(fields["spec"]),
            source=fields.get("source", "api"),
            submitted_at=datetime.fromisoformat(fields["submitted_at"]),
            progress=Progress.model_validate_json(fields.get("progress", "{}")),
            **{name: datetime.fromisoformat(fields[name]) for name in TIMESTAMPS if name in fields},
        )

    def clear_items(self, job_id: str) -> None:
        self.client.delete(keys.job_items(job_id))

    def append_items(self, job_id: str, items: list[dict[str, Any]]) -> None:
        """Add items to the job's stream, bounded in length and kept as long as the record."""
        key = keys.job_items(job_id)
        pipe = self.client.pipeline(transaction=False)
        for item in items:
            pipe.xadd(key, {"item": json.dumps(item, ensure_ascii=False)}, maxlen=self.items_max, approximate=True)
        pipe.expire(key, self.ttl_seconds)
        pipe.execute()

    def read_items(self, job_id: str, cursor: str | None, limit: int) -> ItemsPage:
        """Up to `limit` items after `cursor`."""
        start = f"({cursor}" if cursor else "-"
        entries = self.client.xrange(keys.job_items(job_id), min=start, max="+", count=limit + 1)
        page = entries[:limit]
        return ItemsPage(
            items=[json.loads(fields["item"]) for _, fields in page],
            next_cursor=page[-1][0] if page else cursor,
            has_more=len(entries) > limit,
        )
