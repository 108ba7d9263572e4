"""Each job's crawl log, as a Redis stream of lines beside its items: bounded in
lines and in the length of each, and kept as long as the job's record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from crawlfleet_core.settings import Settings
from crawlfleet_core.store import keys
from crawlfleet_core.store.connections import redis_client

# A line longer than this keeps its head and its tail: a traceback's tail names the error.
MAX_LINE_CHARS = 8192
_HEAD_CHARS = 2048


def bounded_line(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    cut = len(line) - MAX_LINE_CHARS + 40
    tail = line[_HEAD_CHARS + cut :]
    return f"{line[:_HEAD_CHARS]}\n[… {cut} characters left out …]\n{tail}"


@dataclass
class JobLogs:
    client: redis.Redis
    ttl_seconds: int
    max_lines: int

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> JobLogs:
        """The job logs of the platform's job store; `options` are more of redis-py's
        client options (a retry policy, say)."""
        client = redis_client(settings.job_store_url, settings.redis_sentinel_master, decode_responses=True, **options)
        return cls(client, settings.result_ttl_seconds, settings.log_max_lines_per_job)

    def append(self, job_id: str, lines: list[str]) -> None:
        """Add lines to the job's log; the oldest go once it holds `max_lines`."""
        if not lines:
            return
        key = keys.job_log(job_id)
        pipe = self.client.pipeline(transaction=False)
        for line in lines:
            pipe.xadd(key, {"line": bounded_line(line)}, maxlen=self.max_lines, approximate=False)
        pipe.expire(key, self.ttl_seconds)
        pipe.execute()

    def read(self, job_id: str, after: str | None, count: int) -> list[tuple[str, str]]:
        """Up to `count` (position, line) pairs after the position `after`, oldest first."""
        entries = self.client.xrange(keys.job_log(job_id), min=f"({after}" if after else "-", max="+", count=count)
        return [(position, fields["line"]) for position, fields in entries]
