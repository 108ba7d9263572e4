"""The worker's heartbeat: that it lives, and which tasks it holds.

The broker's unacked bookkeeping says which tasks are in flight but not which worker
holds them, and `celery inspect` costs a broadcast round trip to every worker.
Instead each worker's main process writes one small key,
`keys.worker_activity_key(pod)`, naming the delivery tag and task id of every task
it holds (prefetched, waiting for a countdown, or running), with a short TTL
(`crawlfleet_core.store.workers`): every `HEARTBEAT_SECONDS`, and at once when it
receives a task, so a pod turns busy without delay and turns idle at most one
heartbeat late (the safe direction). The autoscaler removes idle pods before busy
ones by it; the fleet's recovery (`crawlfleet_workers.recovery`) returns to their
queue the tasks that no live worker names, and the job service says a job whose
worker stopped heartbeating is no longer running.

The pod is named by `CRAWLFLEET_POD_NAME` (the chart sets it from the downward API);
without it a worker goes by its Celery node name."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import redis
from celery import bootsteps
from celery.signals import task_received
from celery.worker import state
from celery.worker.request import Request

from crawlfleet_core.settings import get_settings
from crawlfleet_core.store.connections import redis_client
from crawlfleet_core.store.workers import HEARTBEAT_SECONDS, WorkerHeartbeats

log = logging.getLogger(__name__)

# A heartbeat that cannot be written fails fast, well within the heartbeat's TTL.
REDIS_TIMEOUT_SECONDS = 2


def pod_name(nodename: str) -> str:
    """Under what this worker heartbeats: its pod, or else its Celery node name
    (`celery@host`, unique per worker), so that two workers on one host never
    overwrite each other's heartbeat."""
    return os.environ.get("CRAWLFLEET_POD_NAME") or nodename


def broker_heartbeats() -> WorkerHeartbeats:
    settings = get_settings()
    client = redis_client(
        settings.broker_url,
        settings.redis_sentinel_master,
        decode_responses=True,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    return WorkerHeartbeats(client)


def held_tasks(arriving: Request | None = None) -> dict[str, str]:
    """Delivery tag -> task id of every task this worker holds.

    `state.requests` holds the reserved, the countdown-scheduled and the running
    requests; copying a dict's values is one step under the GIL, so the consumer
    thread cannot change it halfway. `arriving` is a request Celery announced but
    has not yet added to it."""
    requests = list(state.requests.values())
    if arriving is not None:
        requests.append(arriving)
    return {request.message.delivery_tag: request.id for request in requests}


class ActivityReporter:
    """Writes this worker's heartbeat until stopped."""

    def __init__(self, heartbeats: WorkerHeartbeats, pod: str) -> None:
        self.heartbeats = heartbeats
        self.pod = pod
        # One heartbeat at a time, so that an older view never overwrites a newer one.
        self._writing = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crawlfleet-heartbeat", daemon=True)

    def start(self) -> None:
        """Start beating; a consumer restarting after a broker reconnect calls this again."""
        if self._thread.ident is None:
            self._thread.start()

    def report(self, arriving: Request | None = None) -> None:
        """One heartbeat; a broker outage must not disturb the tasks, so errors are logged only."""
        with self._writing:
            try:
                self.heartbeats.beat(self.pod, held_tasks(arriving))
            except (redis.RedisError, OSError) as error:
                log.warning("cannot write the worker's heartbeat: %s", error)

    def report_arriving(self, request: Request, **_: Any) -> None:
        self.report(arriving=request)

    def stop(self) -> None:
        if self._thread.ident is None:  # stopped before its consumer ever started: nothing reported
            return
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_SECONDS * 2)
        try:
            self.heartbeats.stop(self.pod)
        except (redis.RedisError, OSError) as error:
            log.warning("cannot clear the worker's heartbeat: %s", error)
        self.heartbeats.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.report()
            self._stop.wait(HEARTBEAT_SECONDS)


class ActivityReport(bootsteps.StartStopStep):
    """The worker's heartbeat, as a step of its consumer.

    The heartbeat runs from the consumer's first start to its `shutdown`, which
    Celery calls once the pool has finished the running tasks, so a worker draining
    in a warm shutdown still names what it holds. The consumer's `stop`, which comes
    before that drain and on every broker reconnect, leaves it running."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.reporter = ActivityReporter(broker_heartbeats(), pod_name(parent.hostname))
        # Celery announces a task just before the request joins `state.requests`.
        task_received.connect(self.reporter.report_arriving, sender=parent, weak=False)

    def start(self, parent: Any) -> None:
        self.reporter.start()

    def stop(self, parent: Any) -> None:
        """Nothing: see the class's docstring."""

    def shutdown(self, parent: Any) -> None:
        task_received.disconnect(self.reporter.report_arriving, sender=parent)
        self.reporter.stop()
