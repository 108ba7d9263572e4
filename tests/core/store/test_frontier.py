"""A job's crawl frontier in a real Redis: its queue, duplicate filter, page budget and
what a dead crawl process held, shared by frontiers of one job as processes share them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from crawlfleet_core.store import keys
from crawlfleet_core.store.frontier import Frontier
from crawlfleet_core.store.jobs import JobStore
from tests.harness.ports import wait_until
from tests.harness.redis_server import RedisServer

TTL = 600


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client(6)
    yield client
    client.close()


@pytest.fixture
def job_id() -> str:
    return uuid.uuid4().hex


def frontier(client: redis.Redis, job_id: str, limit: int | None = None) -> Frontier:
    return Frontier(client, job_id, TTL, limit)


def drain(frontier: Frontier, shard: str = "0") -> list[str]:
    requests = []
    while (popped := frontier.pop(shard)) is not None:
        requests.append(popped[1])
    return requests


def test_requests_come_out_highest_priority_first_and_in_order_within_a_priority(
    client: redis.Redis, job_id: str
) -> None:
    queue = frontier(client, job_id)
    for name, priority in [("a", 0), ("b", -1), ("c", 0), ("d", 3), ("e", -1)]:
        assert queue.push(name, priority, fingerprint=name)
    assert drain(queue) == ["d", "a", "c", "b", "e"]


def test_a_fingerprint_met_by_any_process_of_the_job_is_not_queued_again(client: redis.Redis, job_id: str) -> None:
    first, second = frontier(client, job_id), frontier(client, job_id)
    assert first.push("page", 0, fingerprint="f1")
    assert not second.push("page again", 0, fingerprint="f1")
    assert second.push("exempt from the filter", 0, fingerprint=None)
    assert second.seen("f1") and not second.seen("f2") and first.seen("f2")
    # Another job's frontier is its own.
    assert frontier(client, uuid.uuid4().hex).push("page", 0, fingerprint="f1")
    assert drain(first) == ["page", "exempt from the filter"]


def test_requests_in_flight_hold_the_slots_their_fetches_may_spend_across_processes(
    client: redis.Redis, job_id: str
) -> None:
    shard_a, shard_b = frontier(client, job_id, limit=2), frontier(client, job_id, limit=2)
    for n in range(5):
        shard_a.push(f"r{n}", 0, fingerprint=f"f{n}")
    a = shard_a.pop("a")
    b = shard_b.pop("b")
    assert a is not None and b is not None
    assert shard_a.pop("a") is None and shard_b.pop("b") is None, "a third request while two slots are held"
    shard_a.settle(a[0], page=False)  # a redirect, an error, a refusal: the slot comes back
    c = shard_b.pop("b")
    assert c is not None
    shard_b.settle(b[0], page=True)
    shard_b.settle(c[0], page=True)
    shard_b.settle(c[0], page=True)  # settled once only
    assert shard_a.counts().pages == 2 and shard_a.spent()
    assert shard_a.pages_by_shard() == {"b": 2}
    assert shard_a.pop("a") is None
    assert shard_a.counts().waiting == 2


def test_a_dead_shards_requests_go_back_to_the_queue_in_their_places_with_what_they_held(
    client: redis.Redis, job_id: str
) -> None:
    queue = frontier(client, job_id, limit=10)
    for n in range(4):
        queue.push(f"r{n}", 0, fingerprint=f"f{n}")
    taken = [queue.pop("dead"), queue.pop("dead"), queue.pop("live")]
    assert all(taken)
    (r0, _), (r1, _), (r2, _) = taken  # type: ignore[misc]
    queue.settle(r0, page=True)  # fetched, its items not yet stored
    queue.settle(r2, page=True)
    queue.acknowledge([r2, r1])  # r1's fetch has not ended: it stays in flight
    assert queue.counts().pages == 2 and queue.counts().slots == 1

    assert queue.pages_by_shard() == {"dead": 1, "live": 1}
    assert queue.reclaim("dead") == 2
    assert queue.counts().pages == 1 and queue.counts().slots == 0
    assert queue.pages_by_shard() == {"dead": 0, "live": 1}
    assert drain(queue, "next") == ["r0", "r1", "r3"]
    assert queue.reclaim("live") == 0


def test_percent_is_the_share_of_the_pages_known_to_come_and_reaches_100_only_at_the_end(
    client: redis.Redis, job_id: str
) -> None:
    queue = frontier(client, job_id, limit=10)
    assert queue.percent() == 0.0
    for n in range(4):
        queue.push(f"r{n}", 0, fingerprint=f"f{n}")
    popped = queue.pop("0")
    assert popped is not None
    queue.settle(popped[0], page=True)
    assert queue.percent() == 25.0
    drain(queue)
    assert queue.percent() == 25.0
    many = frontier(client, job_id, limit=4)
    for n in range(100):
        many.push(f"more{n}", 0, fingerprint=f"more{n}")
    assert many.percent() == 25.0  # at most the budget is still to come
    ended = frontier(client, uuid.uuid4().hex, limit=1)
    ended.push("only", 0, fingerprint="only")
    only = ended.pop("0")
    assert only is not None
    ended.settle(only[0], page=True)
    assert ended.percent() == 99.0


def test_the_frontier_is_kept_as_long_as_the_job_and_deleted_with_it(client: redis.Redis, job_id: str) -> None:
    queue = frontier(client, job_id)
    queue.push("page", 0, fingerprint="f")
    queue.push("other", 0, fingerprint="g")
    queue.renew("0", lease_seconds=60)
    popped = queue.pop("0")
    assert popped is not None
    existing = [key for key in keys.frontier_keys(job_id) if client.exists(key)]
    assert len(existing) == len(keys.FRONTIER_PARTS), existing
    assert all(0 < client.ttl(key) <= TTL for key in existing)
    JobStore(client, TTL, 100).delete(job_id)
    assert not any(client.exists(key) for key in keys.frontier_keys(job_id))


def test_a_shard_whose_lease_ran_out_has_its_requests_reclaimed_by_any_other(client: redis.Redis, job_id: str) -> None:
    queue = frontier(client, job_id, limit=10)
    for n in range(3):
        queue.push(f"r{n}", 0, fingerprint=f"f{n}")
    queue.renew("gone", lease_seconds=1)
    queue.renew("live", lease_seconds=60)
    gone = queue.pop("gone")
    live = queue.pop("live")
    assert gone is not None and live is not None
    queue.settle(gone[0], page=True)
    assert queue.reclaim_expired() == 0, "a lease still running was taken"
    wait_until(lambda: queue.reclaim_expired() == 1, 5, "the lease to run out")
    counts = queue.counts()
    assert (counts.pages, counts.slots, counts.held, counts.waiting) == (0, 1, 1, 2)
    assert queue.reclaim_expired() == 0
