"""Job logs in a real Redis: bounded in lines and in line length, read from a position."""

from __future__ import annotations

import uuid

import redis

from crawlfleet_core.settings import Settings
from crawlfleet_core.store import keys
from crawlfleet_core.store.logs import MAX_LINE_CHARS, JobLogs, bounded_line


def test_a_log_keeps_its_newest_lines_and_expires_with_the_job(settings: Settings) -> None:
    logs = JobLogs(redis.Redis.from_url(settings.job_store_url, decode_responses=True), 600, 100)
    job_id = str(uuid.uuid4())
    logs.append(job_id, [f"line {i}" for i in range(150)])
    lines = logs.read(job_id, None, 1000)
    assert [line for _, line in lines] == [f"line {i}" for i in range(50, 150)]
    assert [line for _, line in logs.read(job_id, lines[97][0], 10)] == ["line 148", "line 149"]
    assert 0 < logs.client.ttl(keys.job_log(job_id)) <= 600


def test_a_long_line_keeps_its_head_and_its_tail() -> None:
    line = "Traceback (most recent call last):\n" + "x" * 20_000 + "\nValueError: the end"
    bounded = bounded_line(line)
    assert len(bounded) <= MAX_LINE_CHARS
    assert bounded.startswith("Traceback") and bounded.endswith("ValueError: the end")
    assert bounded_line("short") == "short"
