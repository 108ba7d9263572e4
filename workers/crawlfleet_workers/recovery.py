"""The fleet's recovery: tasks of workers that stopped heartbeating go back to their queue.

Every worker runs it, and the restore script's own lock lets one sweep per
`RESTORE_INTERVAL_SECONDS` through for the whole fleet (the script is atomic, so two
sweeps at once would be wasteful, not wrong). Workers, because they are the one
component every deployment has while there is anything to recover: the tasks of a
dead worker count as in flight, and the autoscaler never scales a pool with work in
flight to zero, so a pool that lost a worker keeps at least one that sweeps. `make
dev` runs no operator, and the API may be scaled, placed and upgraded apart from the
fleet whose health this is; kombu's own restore, which this one overtakes, runs in
the workers too."""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from celery import bootsteps

from crawlfleet_core.store.workers import RESTORE_INTERVAL_SECONDS, WorkerHeartbeats
from crawlfleet_workers.activity import broker_heartbeats

log = logging.getLogger(__name__)


class Restorer:
    """Sweeps for tasks of dead workers until stopped."""

    def __init__(self, heartbeats: WorkerHeartbeats) -> None:
        self.heartbeats = heartbeats
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crawlfleet-restorer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.ident is None:
            return
        self._stop.set()
        self._thread.join(timeout=RESTORE_INTERVAL_SECONDS * 2)
        self.heartbeats.client.close()

    def sweep(self) -> None:
        try:
            restored = self.heartbeats.restore_orphans()
        except (redis.RedisError, OSError) as error:
            log.warning("cannot sweep for tasks of lost workers: %s", error)
            return
        for task in restored or ():
            log.warning(
                "task %s went back to queue %s: the worker that held it stopped heartbeating", task.task_id, task.queue
            )

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sweep()
            self._stop.wait(RESTORE_INTERVAL_SECONDS)


class Recovery(bootsteps.StartStopStep):
    """The restorer, as a step of the worker: it runs from the worker's start to its shutdown."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.restorer = Restorer(broker_heartbeats())

    def start(self, parent: Any) -> None:
        self.restorer.start()

    def stop(self, parent: Any) -> None:
        self.restorer.stop()
