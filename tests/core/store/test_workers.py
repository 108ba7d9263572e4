"""The restore of tasks whose worker stopped heartbeating, against kombu's real
bookkeeping: tasks published by Celery and delivered by kombu to a consumer that
never acknowledges them, as a killed worker leaves them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from kombu import Connection

from crawlfleet_core.celery_app import SLEEP_TASK, create_celery_app
from crawlfleet_core.settings import Settings
from crawlfleet_core.store.keys import UNACKED, UNACKED_INDEX, queue_lists
from crawlfleet_core.store.workers import RestoredTask, WorkerHeartbeats
from tests.harness.platform import queued_task_ids
from tests.harness.redis_server import RedisServer

# A database of its own: a sweep covers every unacknowledged task of its database.
BROKER_DB = 5
QUEUE = "restore"
SWEEP_LOCK_SECONDS = 0.05


@dataclass
class Delivered:
    tag: str
    task_id: str
    entry: str

    @property
    def message(self) -> str:
        """The message as kombu keeps it, without the exchange and routing key it adds."""
        return self.entry.removeprefix("[").removesuffix(f', "", "{QUEUE}"]')


class Broker:
    def __init__(self, server: RedisServer) -> None:
        url = server.url(BROKER_DB)
        self.client = server.client(BROKER_DB)
        self.client.flushdb()
        self.app = create_celery_app(Settings(broker_url=url, result_backend=server.url(BROKER_DB + 1)))
        self.heartbeats = WorkerHeartbeats(redis.Redis.from_url(url, decode_responses=True))
        # A consumer that takes tasks and never acknowledges them: a worker that died.
        self.consumer = Connection(url, transport_options=self.app.conf.broker_transport_options)

    def deliver(self, priority: int) -> Delivered:
        task_id = str(uuid.uuid4())
        self.app.send_task(SLEEP_TASK, args=[1], queue=QUEUE, priority=priority, task_id=task_id)
        message = self.consumer.default_channel.basic_get(queue=QUEUE, no_ack=False)
        assert message is not None and message.headers["id"] == task_id
        return Delivered(message.delivery_tag, task_id, self.client.hget(UNACKED, message.delivery_tag))

    def sweep(self, grace_seconds: float) -> list[RestoredTask] | None:
        time.sleep(SWEEP_LOCK_SECONDS * 2)  # past the previous sweep's lock
        return self.heartbeats.restore_orphans(lock_seconds=SWEEP_LOCK_SECONDS, grace_seconds=grace_seconds)

    def close(self) -> None:
        self.consumer.release()
        self.app.close()


@pytest.fixture
def broker(redis_server: RedisServer) -> Iterator[Broker]:
    broker = Broker(redis_server)
    yield broker
    broker.close()


def test_a_task_no_worker_names_goes_back_to_its_priority_list_once_the_grace_is_over(broker: Broker) -> None:
    delivered = broker.deliver(priority=3)
    assert broker.sweep(grace_seconds=1) == [], "restored at first sight, before its worker could name it"
    assert broker.client.hexists(UNACKED, delivered.tag)
    time.sleep(1)
    assert broker.sweep(grace_seconds=1) == [RestoredTask(delivered.task_id, QUEUE)]
    # Byte for byte what kombu had delivered, in the list of its priority, and no longer unacknowledged.
    waiting = {name: broker.client.lrange(name, 0, -1) for name in queue_lists(QUEUE)}
    assert {name: messages for name, messages in waiting.items() if messages} == {
        queue_lists(QUEUE)[3]: [delivered.message]
    }
    assert not broker.client.hexists(UNACKED, delivered.tag)
    assert broker.client.zscore(UNACKED_INDEX, delivered.tag) is None
    json.loads(delivered.message)

    # The dead consumer's connection closing (kombu's own restore) puts back no second copy.
    broker.consumer.release()
    assert queued_task_ids(broker.client, QUEUE) == {delivered.task_id}
    with Connection(broker.app.conf.broker_url, transport_options=broker.app.conf.broker_transport_options) as again:
        message = again.default_channel.basic_get(queue=QUEUE, no_ack=True)
        assert message is not None and message.headers["id"] == delivered.task_id


def test_a_task_a_live_worker_names_is_never_restored(broker: Broker) -> None:
    named, unnamed = broker.deliver(priority=0), broker.deliver(priority=0)
    broker.heartbeats.beat("pod-alive", {named.tag: named.task_id})
    for _ in range(3):
        restored = broker.sweep(grace_seconds=0)
        assert restored is not None and named.task_id not in {task.task_id for task in restored}
    assert broker.client.hexists(UNACKED, named.tag)
    assert queued_task_ids(broker.client, QUEUE) == {unnamed.task_id}

    broker.heartbeats.stop("pod-alive")
    assert broker.sweep(grace_seconds=0) == [RestoredTask(named.task_id, QUEUE)]
    assert queued_task_ids(broker.client, QUEUE) == {named.task_id, unnamed.task_id}


def test_the_fleet_sweeps_once_per_interval(broker: Broker) -> None:
    assert broker.heartbeats.restore_orphans(lock_seconds=5) is not None
    assert broker.heartbeats.restore_orphans(lock_seconds=5) is None


def test_a_heartbeat_names_what_the_worker_holds_for_the_job_service(broker: Broker) -> None:
    broker.heartbeats.beat("pod-a", {"tag-1": "job-1"})
    assert broker.heartbeats.holds("pod-a", "job-1")
    assert not broker.heartbeats.holds("pod-a", "job-2")
    assert not broker.heartbeats.holds("pod-b", "job-1")
    broker.heartbeats.stop("pod-a")
    assert not broker.heartbeats.holds("pod-a", "job-1")
