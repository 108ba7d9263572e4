"""Announcements of served queues in a real Redis: each holds until it expires, and a
shorter one never cuts a longer one short."""

from __future__ import annotations

import time
import uuid

import redis

from crawlfleet_core.store.registry import announce, served_at
from tests.harness.redis_server import RedisServer


def announced(client: redis.Redis, queues: list[str], ttl: float, moment: float) -> None:
    pipe = client.pipeline(transaction=False)
    announce(pipe, queues, ttl, moment)
    pipe.execute()


def test_a_queue_is_served_until_its_announcement_expires(redis_server: RedisServer) -> None:
    client = redis_server.client(0)
    first, second = f"q-{uuid.uuid4().hex[:8]}", f"q-{uuid.uuid4().hex[:8]}"
    now = time.time()
    announced(client, [first, second], 30, now)
    assert {first, second} <= served_at(client, now + 29)
    assert not {first, second} & served_at(client, now + 31)


def test_a_shorter_announcement_never_shortens_a_longer_one(redis_server: RedisServer) -> None:
    client = redis_server.client(0)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    now = time.time()
    announced(client, [queue], 300, now)  # a pool polled every 90 s
    announced(client, [queue], 30, now)  # a worker
    assert queue in served_at(client, now + 200)


def test_announcers_trim_what_expired(redis_server: RedisServer) -> None:
    client = redis_server.client(0)
    stale, fresh = f"q-{uuid.uuid4().hex[:8]}", f"q-{uuid.uuid4().hex[:8]}"
    now = time.time()
    announced(client, [stale], 30, now - 60)
    announced(client, [fresh], 30, now)
    assert client.zscore("crawlfleet:queues:served", stale) is None
    assert client.zscore("crawlfleet:queues:served", fresh) is not None
