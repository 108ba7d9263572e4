"""Job records and item streams in the job store (a Redis database).

The result backend knows a task's state only once a worker touched it, and says
PENDING for any id it never saw; the record (`JobRecord`) is what makes an unknown
id a 404 and holds what Celery keeps nowhere."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import redis

from crawlfleet_core.clock import now
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.status import DEFAULT_TENANT, TIMESTAMPS, ItemsPage, JobRecord, Progress
from crawlfleet_core.settings import Settings
from crawlfleet_core.store import keys

# The smallest stream id: a range that ends just before it is empty.
FIRST_STREAM_ID = "0-0"


class JobStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int, items_max: int) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.items_max = items_max

    @classmethod
    def from_settings(cls, settings: Settings) -> JobStore:
        """The job store the platform's settings name, with their TTL and items bound."""
        client = redis.Redis.from_url(settings.job_store_url, decode_responses=True)
        return cls(client, settings.result_ttl_seconds, settings.items_max_per_job)

    def create(self, job_id: str, spec: JobSpec, source: str, tenant: str = DEFAULT_TENANT) -> bool:
        """Write a new record and list it in the indexes; False when the id already
        has one (a repeated submission)."""
        key = keys.job_record(job_id)
        submitted = now()
        if not self.client.hsetnx(key, "submitted_at", submitted.isoformat()):
            return False
        # Index entries older than the records they point at are trimmed as new ones come.
        oldest = f"{int((submitted.timestamp() - self.ttl_seconds) * 1000)}-0"
        pipe = self.client.pipeline()
        pipe.hset(key, mapping={"spec": spec.model_dump_json(by_alias=True), "source": source, "tenant": tenant})
        pipe.expire(key, self.ttl_seconds)
        for index in (keys.jobs_index(), keys.jobs_index(tenant)):
            pipe.xadd(index, {"id": job_id}, minid=oldest, approximate=True)
            pipe.expire(index, self.ttl_seconds)
        pipe.execute()
        return True

    def recent(self, tenant: str | None, before: str | None, count: int) -> list[tuple[str, str]]:
        """Up to `count` (index position, job id) pairs, newest first, submitted before
        the position `before` (all tenants' jobs when `tenant` is None). A job whose
        record expired may still be listed; readers skip it."""
        if before == FIRST_STREAM_ID:
            return []  # nothing is before it, and Redis refuses the empty range as an error
        entries = self.client.xrevrange(
            keys.jobs_index(tenant), max=f"({before}" if before else "+", min="-", count=count
        )
        return [(position, fields["id"]) for position, fields in entries]

    def records(self, job_ids: list[str]) -> list[JobRecord | None]:
        """The records of `job_ids`, in one round trip; None where one expired."""
        pipe = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(keys.job_record(job_id))
        return [self._record(job_id, fields) for job_id, fields in zip(job_ids, pipe.execute(), strict=True)]

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
        return self._record(job_id, self.client.hgetall(keys.job_record(job_id)))

    @staticmethod
    def _record(job_id: str, fields: dict[str, str]) -> JobRecord | None:
        if "spec" not in fields:
            return None
        return JobRecord(
            id=job_id,
            # Valid when it was submitted, a stored spec is read as stored, not judged again
            # by today's rules: they may have changed since, and a host kept in its IDNA form
            # can be longer than the bound its input was held to.
            spec=JobSpec.model_construct(**json.loads(fields["spec"])),
            source=fields.get("source", "api"),
            tenant=fields.get("tenant", DEFAULT_TENANT),
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
            # An exact MAXLEN: the approximate one trims only whole stream nodes (100
            # entries by default), so a job could keep up to that many beyond its bound.
            pipe.xadd(key, {"item": json.dumps(item, ensure_ascii=False)}, maxlen=self.items_max, approximate=False)
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
