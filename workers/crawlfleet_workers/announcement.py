"""The worker announces the queues it consumes, so that the API accepts jobs for them
(`crawlfleet_core.store.registry`).

A step of the consumer, on the consumer's own timer, like Celery's heartbeat: it
announces at once when the consumer starts (and after every broker reconnect), then
every `WORKER_ANNOUNCE_SECONDS`, reading the queues from the task consumer each time,
so that queues added or cancelled at run time (`celery control add_consumer`) follow.
A worker that stops announcing is forgotten when its last announcement expires."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from celery import bootsteps

from crawlfleet_core.settings import get_settings
from crawlfleet_core.store.connections import redis_client
from crawlfleet_core.store.registry import WORKER_ANNOUNCE_SECONDS, WORKER_ANNOUNCE_TTL_SECONDS, announce

log = logging.getLogger(__name__)


class QueueAnnouncement(bootsteps.StartStopStep):
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        settings = get_settings()
        self.client = redis_client(
            settings.broker_url, settings.redis_sentinel_master, socket_timeout=2, socket_connect_timeout=2
        )
        self.timer_entry: Any = None

    def start(self, parent: Any) -> None:
        self.announce(parent)
        self.timer_entry = parent.timer.call_repeatedly(WORKER_ANNOUNCE_SECONDS, self.announce, (parent,))

    def announce(self, parent: Any) -> None:
        """One announcement; a broker outage must not disturb the worker, so errors are logged only."""
        queues = [queue.name for queue in parent.task_consumer.queues]
        pipe = self.client.pipeline(transaction=False)
        announce(pipe, queues, WORKER_ANNOUNCE_TTL_SECONDS, time.time())
        try:
            pipe.execute()
        except (redis.RedisError, OSError) as error:
            log.warning("cannot announce the queues %s: %s", queues, error)

    def stop(self, parent: Any) -> None:
        if self.timer_entry is not None:
            parent.timer.cancel(self.timer_entry)
            self.timer_entry = None

    def shutdown(self, parent: Any) -> None:
        self.stop(parent)
        self.client.close()
