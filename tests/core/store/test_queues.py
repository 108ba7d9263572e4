"""Measuring a queue's work against a real Redis broker and real Celery workers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import redis

from crawlfleet_core.celery_app import SLEEP_TASK
from crawlfleet_core.service import JobService
from crawlfleet_core.store.keys import queue_lists
from crawlfleet_core.store.queues import QueueDepth, QueueGauge, broker_client
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import spec
from tests.harness.ports import wait_until
from tests.harness.redis_server import RedisServer


def depth(url: str, queue: str) -> QueueDepth:
    async def measure() -> QueueDepth:
        gauge = QueueGauge(broker_client(url, ""))
        try:
            return await gauge.depth(queue)
        finally:
            await gauge.client.aclose()

    return asyncio.run(measure())


def held_tasks(url: str, pods: list[str]) -> Mapping[str, int]:
    async def read() -> Mapping[str, int]:
        gauge = QueueGauge(broker_client(url, ""))
        try:
            return await gauge.held_tasks(pods)
        finally:
            await gauge.client.aclose()

    return asyncio.run(read())


def fresh_queue() -> str:
    return f"q-{uuid.uuid4().hex[:10]}"


def send_sleeps(job_service: JobService, queue: str, count: int, seconds: int, priority: int = 0) -> None:
    for _ in range(count):
        job_service.app.send_task(SLEEP_TASK, kwargs={"seconds": seconds}, queue=queue, priority=priority)


def test_waiting_counts_every_priority_sub_list(job_service: JobService, redis_server: RedisServer) -> None:
    queue = fresh_queue()
    for priority in (0, 3, 9):
        send_sleeps(job_service, queue, 2, 1, priority=priority)
    broker = redis_server.client(0)
    filled = [name for name in queue_lists(queue) if broker.llen(name)]
    assert len(filled) == 3, "Celery should have put the three priorities in three lists"

    assert depth(redis_server.url(0), queue) == QueueDepth(waiting=6, in_flight=0)


def test_in_flight_counts_tasks_workers_took_and_nothing_of_other_queues(
    job_service: JobService, redis_server: RedisServer, worker_factory: Callable[..., CeleryWorker]
) -> None:
    queue, other = fresh_queue(), fresh_queue()
    worker_factory(queues=f"{queue},{other}", concurrency=2)
    # The tasks outlast the first wait, so the state it looks for cannot pass before it looks.
    send_sleeps(job_service, queue, 3, 16)

    # Two processes with a prefetch of one each: two tasks taken, one left in the list.
    wait_until(
        lambda: depth(redis_server.url(0), queue) == QueueDepth(waiting=1, in_flight=2),
        15,
        "2 in flight and 1 waiting",
    )
    assert depth(redis_server.url(0), other) == QueueDepth(waiting=0, in_flight=0)
    wait_until(
        lambda: depth(redis_server.url(0), queue) == QueueDepth(waiting=0, in_flight=0), 60, "the queue to drain"
    )


def test_tasks_of_a_killed_worker_stay_in_flight(
    job_service: JobService, redis_server: RedisServer, worker_factory: Callable[..., CeleryWorker]
) -> None:
    """They are still work: kombu returns them to the list after the visibility timeout."""
    queue = fresh_queue()
    worker = worker_factory(queues=queue, concurrency=1)
    send_sleeps(job_service, queue, 1, 30)
    wait_until(lambda: depth(redis_server.url(0), queue).in_flight == 1, 15, "the task to be taken")
    worker.kill()
    assert depth(redis_server.url(0), queue) == QueueDepth(waiting=0, in_flight=1)


def test_each_worker_reports_the_tasks_it_holds_under_its_pod_name(
    job_service: JobService, redis_server: RedisServer, worker_factory: Callable[..., CeleryWorker]
) -> None:
    queue = fresh_queue()
    busy, idle = f"busy-{uuid.uuid4().hex[:6]}", f"idle-{uuid.uuid4().hex[:6]}"
    worker_factory(queues=queue, concurrency=2, extra_env={"CRAWLFLEET_POD_NAME": busy})
    worker_factory(queues=fresh_queue(), concurrency=1, extra_env={"CRAWLFLEET_POD_NAME": idle})
    # The tasks outlast the first wait, so the busy report cannot come and go unseen.
    send_sleeps(job_service, queue, 2, 12)

    wait_until(
        lambda: held_tasks(redis_server.url(0), [busy, idle, "no-such-pod"]) == {busy: 2, idle: 0},
        10,
        "the busy worker to report 2 tasks and the idle one 0",
    )
    wait_until(lambda: held_tasks(redis_server.url(0), [busy]) == {busy: 0}, 30, "the busy worker to report idle")


def test_an_unreachable_broker_raises_within_the_timeout(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    url = server.url(0)
    server.stop()
    with pytest.raises((redis.RedisError, OSError)):
        depth(url, "default")


def test_a_sharded_job_counts_as_one_task_per_shard(job_service: JobService, redis_server: RedisServer) -> None:
    queue = fresh_queue()
    job_service.submit(spec(startUrls=["http://127.0.0.1:9/"], shards=3, queue=queue))
    assert depth(redis_server.url(0), queue) == QueueDepth(waiting=3, in_flight=0)
