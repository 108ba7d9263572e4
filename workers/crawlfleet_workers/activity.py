"""The worker reports how many tasks it holds, so the autoscaler removes idle pods
before busy ones.

The broker's unacked bookkeeping says how many tasks a queue has in flight but not
which worker holds them, and `celery inspect` costs a broadcast round trip to every
worker. Instead each worker's main process writes one small key,
`keys.worker_activity_key(pod)` = the number of tasks it has reserved (prefetched
or running), with a TTL: every `ACTIVITY_REPORT_SECONDS`, and at once when it
receives a task, so a pod turns busy in the report without delay and turns idle at
most one report late (the safe direction). A worker that hangs or dies stops
refreshing the key and its report expires.

The pod is named by `CRAWLFLEET_POD_NAME` (the chart sets it from the downward API)
or else by the host name, which Kubernetes sets to the pod's name."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

import redis
from celery import bootsteps
from celery.signals import task_received
from celery.worker import state

from crawlfleet_core.store.keys import worker_activity_key
from crawlfleet_core.store.queues import ACTIVITY_REPORT_SECONDS, ACTIVITY_TTL_SECONDS

log = logging.getLogger(__name__)


def pod_name() -> str:
    return os.environ.get("CRAWLFLEET_POD_NAME") or socket.gethostname()


class ActivityReporter:
    """Writes this worker's held-task count until stopped."""

    def __init__(self, broker_url: str, pod: str) -> None:
        self.client = redis.Redis.from_url(broker_url, socket_timeout=2, socket_connect_timeout=2)
        self.key = worker_activity_key(pod)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crawlfleet-activity", daemon=True)

    def start(self) -> None:
        """Start reporting; a consumer restarting after a broker reconnect calls this again."""
        if self._thread.ident is None:
            self._thread.start()

    def report(self, arriving: object = None) -> None:
        """One write; a broker outage must not disturb the tasks, so errors are logged only.

        `arriving` is a request Celery announced but has not yet added to its reserved set."""
        held = len(state.reserved_requests) + (arriving is not None and arriving not in state.reserved_requests)
        try:
            self.client.set(self.key, held, ex=ACTIVITY_TTL_SECONDS)
        except (redis.RedisError, OSError) as error:
            log.warning("cannot report worker activity: %s", error)

    def report_arriving(self, request: object, **_: Any) -> None:
        self.report(arriving=request)

    def stop(self) -> None:
        if self._thread.ident is None:  # stopped before its consumer ever started: nothing reported
            return
        self._stop.set()
        self._thread.join(timeout=ACTIVITY_REPORT_SECONDS * 2)
        try:
            self.client.delete(self.key)
        except (redis.RedisError, OSError) as error:
            log.warning("cannot clear worker activity: %s", error)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.report()
            self._stop.wait(ACTIVITY_REPORT_SECONDS)


class ActivityReport(bootsteps.StartStopStep):
    """The worker's reporter, as a step of its consumer.

    The report runs from the consumer's first start to its `shutdown`, which Celery
    calls once the pool has finished the running tasks, so a worker draining in a
    warm shutdown still reports what it holds. The consumer's `stop`, which comes
    before that drain and on every broker reconnect, leaves the report running."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.reporter = ActivityReporter(parent.app.conf.broker_url, pod_name())
        # Celery announces a task just before the request joins `reserved_requests`.
        task_received.connect(self.reporter.report_arriving, sender=parent, weak=False)

    def start(self, parent: Any) -> None:
        self.reporter.start()

    def stop(self, parent: Any) -> None:
        """Nothing: see the class's docstring."""

    def shutdown(self, parent: Any) -> None:
        task_received.disconnect(self.reporter.report_arriving, sender=parent)
        self.reporter.stop()
