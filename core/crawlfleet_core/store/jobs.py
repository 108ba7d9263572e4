"""Job records and item streams in the job store (a Redis database).

The result backend knows a task's state only once a worker touched it, and says
PENDING for any id it never saw; the record (`JobRecord`) is what makes an unknown
id a 404 and holds what Celery keeps nowhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
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

# Scripts, so that a submission's writes cost Redis one round trip each, not two.
# KEYS: the record, the index of every job, the tenant's index. ARGV: submitted_at,
# spec, source, tenant, TTL, the oldest index entry to keep, the job id.
_CREATE_SCRIPT = """
if redis.call('HSETNX', KEYS[1], 'submitted_at', ARGV[1]) == 0 then
    return 0
end
redis.call('HSET', KEYS[1], 'spec', ARGV[2], 'source', ARGV[3], 'tenant', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
for index = 2, 3 do
    redis.call('XADD', KEYS[index], 'MINID', '~', ARGV[6], '*', 'id', ARGV[7])
    redis.call('EXPIRE', KEYS[index], ARGV[5])
end
return 1
"""
# KEYS: the record. ARGV: the field, its value. Never recreates an expired record.
_MARK_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
"""


class JobStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int, items_max: int) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.items_max = items_max
        self._create = client.register_script(_CREATE_SCRIPT)
        self._mark = client.register_script(_MARK_SCRIPT)

    @classmethod
    def from_settings(cls, settings: Settings) -> JobStore:
        """The job store the platform's settings name, with their TTL and items bound."""
        client = redis.Redis.from_url(settings.job_store_url, decode_responses=True)
        return cls(client, settings.result_ttl_seconds, settings.items_max_per_job)

    def create(self, job_id: str, spec: JobSpec, source: str, tenant: str = DEFAULT_TENANT) -> bool:
        """Write a new record and list it in the indexes; False when the id already
        has one (a repeated submission)."""
        submitted = now()
        # Index entries older than the records they point at are trimmed as new ones come.
        oldest = f"{int((submitted.timestamp() - self.ttl_seconds) * 1000)}-0"
        created = self._create(
            keys=[keys.job_record(job_id), keys.jobs_index(), keys.jobs_index(tenant)],
            args=[
                submitted.isoformat(),
                spec.model_dump_json(by_alias=True),
                source,
                tenant,
                self.ttl_seconds,
                oldest,
                job_id,
            ],
        )
        return bool(created)

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
        self._mark(keys=[keys.job_record(job_id)], args=[event, now().isoformat()])

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

    def item_batches(self, job_id: str, batch_size: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """Every item stored now, oldest first, `batch_size` at a time, so that a reader
        of a large job holds one batch in memory, never the whole stream."""
        cursor: str | None = None
        while True:
            page = self.read_items(job_id, cursor, batch_size)
            if page.items:
                yield page.items
            if not page.has_more:
                return
            cursor = page.next_cursor
