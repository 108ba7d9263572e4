"""Job records and item streams in the job store (a Redis database).

The result backend knows a task's state only once a worker touched it, and says
PENDING for any id it never saw; the record (`JobRecord`) is what makes an unknown
id a 404 and holds what Celery keeps nowhere.

A record is written together with an entry in the index of unpublished jobs and the
submitter's claim to publish it (`CREATE_SCRIPT`), and leaves the index when its task
is in the broker (`PUBLISHED_SCRIPT`): a submitter that dies between the two leaves
a job that the index names and whose claim runs out, for another publisher to finish
(`JobService.publish_stranded`).

Items are stored exactly once per job: each comes with a key that is the same on
every run of the job's crawl (`crawlfleet_workers.item_keys`), and `APPEND_SCRIPT`
adds an item to the stream only if its key is new to the job, atomically, so that a
redelivered or retried run appends only what the runs before it did not store, and a
client reading by cursor never gets an item twice."""

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
from crawlfleet_core.store.connections import redis_client

# KEYS: the job's stream, its set of item keys. ARGV: the stream's bound, the TTL, then
# key and JSON of each item. Returns how many items the job has stored in all.
APPEND_SCRIPT = """
for i = 3, #ARGV, 2 do
    if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
        redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'item', ARGV[i + 1], 'key', ARGV[i])
    end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return redis.call('SCARD', KEYS[2])
"""


# KEYS: the record, the index of unpublished jobs, the publishing claim, the index of
# every job, the tenant's index. ARGV: the job id, submission time (ISO, then seconds),
# spec, source, tenant, TTL, claim, claim milliseconds, the oldest index entry to keep.
CREATE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
end
redis.call('HSET', KEYS[1], 'submitted_at', ARGV[2], 'spec', ARGV[4], 'source', ARGV[5], 'tenant', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('SET', KEYS[3], ARGV[8], 'PX', ARGV[9])
for index = 4, 5 do
    redis.call('XADD', KEYS[index], 'MINID', '~', ARGV[10], '*', 'id', ARGV[1])
    redis.call('EXPIRE', KEYS[index], ARGV[7])
end
return 1
"""

# KEYS: the record, the index of unpublished jobs, the publishing claim. ARGV: the job id, the time.
PUBLISHED_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('HSET', KEYS[1], 'published_at', ARGV[2])
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
"""

# KEYS: the publishing claim. ARGV: the claim. Lets go of a claim only if it is still ours.
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
end
"""

# The smallest stream id: a range that ends just before it is empty.
FIRST_STREAM_ID = "0-0"

# KEYS: the record. ARGV: fields and their values. One round trip, and never
# recreates an expired record.
_MARK_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('HSET', KEYS[1], unpack(ARGV))
end
"""


class JobStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int, items_max: int) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.items_max = items_max
        self._append = client.register_script(APPEND_SCRIPT)
        self._create = client.register_script(CREATE_SCRIPT)
        self._published = client.register_script(PUBLISHED_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)
        self._mark = client.register_script(_MARK_SCRIPT)

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> JobStore:
        """The job store the platform's settings name, with their TTL and items bound;
        `options` are more of redis-py's client options (a retry policy, say)."""
        client = redis_client(settings.job_store_url, settings.redis_sentinel_master, decode_responses=True, **options)
        return cls(client, settings.result_ttl_seconds, settings.items_max_per_job)

    def create(
        self, job_id: str, spec: JobSpec, source: str, claim: str, claim_seconds: float, tenant: str = DEFAULT_TENANT
    ) -> bool:
        """Write a new record, list it in the indexes and as unpublished, and hold
        `claim` to publish it for `claim_seconds`; False when the id already has a
        record (a repeated submission)."""
        submitted = now()
        # Index entries older than the records they point at are trimmed as new ones come.
        oldest = f"{int((submitted.timestamp() - self.ttl_seconds) * 1000)}-0"
        created = self._create(
            keys=[
                keys.job_record(job_id),
                keys.UNPUBLISHED_JOBS,
                keys.publishing_claim(job_id),
                keys.jobs_index(),
                keys.jobs_index(tenant),
            ],
            args=[
                job_id,
                submitted.isoformat(),
                submitted.timestamp(),
                spec.model_dump_json(by_alias=True),
                source,
                tenant,
                self.ttl_seconds,
                claim,
                round(claim_seconds * 1000),
                oldest,
            ],
        )
        return bool(created)

    def claim_publishing(self, job_id: str, claim: str, claim_seconds: float) -> bool:
        """Take the job's publishing claim for `claim_seconds`, unless someone holds it."""
        return bool(self.client.set(keys.publishing_claim(job_id), claim, nx=True, px=round(claim_seconds * 1000)))

    def release_claim(self, job_id: str, claim: str) -> None:
        self._release(keys=[keys.publishing_claim(job_id)], args=[claim])

    def published(self, job_id: str) -> None:
        """The job's task is in the broker: stamp it, and drop it from the unpublished jobs and its claim."""
        self._published(
            keys=[keys.job_record(job_id), keys.UNPUBLISHED_JOBS, keys.publishing_claim(job_id)],
            args=[job_id, now().isoformat()],
        )

    def unpublished(self, older_than_seconds: float) -> list[str]:
        """Jobs recorded at least `older_than_seconds` ago and not published yet."""
        latest = now().timestamp() - older_than_seconds
        return list(self.client.zrangebyscore(keys.UNPUBLISHED_JOBS, "-inf", latest))

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
        """Remove what a submission whose publish failed wrote."""
        pipe = self.client.pipeline()
        pipe.delete(
            keys.job_record(job_id),
            keys.job_items(job_id),
            keys.job_item_keys(job_id),
            keys.publishing_claim(job_id),
            *keys.frontier_keys(job_id),
        )
        pipe.zrem(keys.UNPUBLISHED_JOBS, job_id)
        pipe.execute()

    def mark(self, job_id: str, event: str, **details: str) -> None:
        """Stamp `event` (one of TIMESTAMPS) with the current time, with `details`
        (such as the `worker` that took the job), if the record exists."""
        if event not in TIMESTAMPS:
            raise ValueError(f"unknown job event {event!r}")
        fields = [event, now().isoformat()] + [part for pair in details.items() for part in pair]
        self._mark(keys=[keys.job_record(job_id)], args=fields)

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
            worker=fields.get("worker"),
            **{name: datetime.fromisoformat(fields[name]) for name in TIMESTAMPS if name in fields},
        )

    def append_items(self, job_id: str, items: list[tuple[str, dict[str, Any]]]) -> int:
        """Add each (key, item) whose key the job has not stored yet to its stream, which
        is bounded in length and kept as long as the record; how many it holds in all.

        The bound is exact: an approximate MAXLEN trims only whole stream nodes (100
        entries by default), so a job could keep up to that many beyond it."""
        args: list[str | int] = [self.items_max, self.ttl_seconds]
        for key, item in items:
            args += [key, json.dumps(item, ensure_ascii=False)]
        return int(self._append(keys=[keys.job_items(job_id), keys.job_item_keys(job_id)], args=args))

    def items_stored(self, job_id: str) -> int:
        """How many distinct items the job's runs have stored, trimmed ones included."""
        return int(self.client.scard(keys.job_item_keys(job_id)))

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
