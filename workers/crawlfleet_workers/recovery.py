"""The fleet's recovery: tasks of workers that stopped heartbeating go back to their
queue, and jobs whose submitter died before publishing them are published.

Every worker runs it, and the restore script's own lock lets one restore per
`RESTORE_INTERVAL_SECONDS` through for the whole fleet (the script is atomic, so two
at once would be wasteful, not wrong). Workers, because they are the one component
every deployment has while there is anything to restore: the tasks of a dead worker
count as in flight, and the autoscaler never scales a pool with work in flight to
zero, so a pool that lost a worker keeps at least one that sweeps. `make dev` runs
no operator, and the API may be scaled, placed and upgraded apart from the fleet
whose health this is; kombu's own restore, which this one overtakes, runs in the
workers too. Unpublished jobs are swept by the API as well (it is the one part
running when every pool is at zero), each publish guarded by the job's claim."""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from celery import bootsteps
from kombu.exceptions import OperationalError

from crawlfleet_core.service import JobService
from crawlfleet_core.settings import get_settings
from crawlfleet_core.store.workers import RESTORE_INTERVAL_SECONDS

log = logging.getLogger(__name__)


class Restorer:
    """Sweeps until stopped."""

    def __init__(self, service: JobService) -> None:
        self.service = service
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crawlfleet-recovery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.ident is None:
            return
        self._stop.set()
        self._thread.join(timeout=RESTORE_INTERVAL_SECONDS * 2)
        self.service.broker.close()
        self.service.store.client.close()
        self.service.app.close()

    def sweep(self) -> None:
        """One round; a broker outage must not end the sweeps, so errors are logged only."""
        try:
            restored = self.service.workers.restore_orphans()
            published = self.service.publish_stranded()
        except (redis.RedisError, OSError, OperationalError) as error:
            log.warning("cannot sweep for lost tasks and unpublished jobs: Redis is unreachable (%s)", error)
            return
        except Exception:
            log.exception("the sweep for lost tasks and unpublished jobs failed")
            return
        for task in restored or ():
            log.warning(
                "task %s went back to queue %s: the worker that held it stopped heartbeating", task.task_id, task.queue
            )
        for job_id in published:
            log.warning("published job %s, which its submitter recorded but did not publish", job_id)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sweep()
            self._stop.wait(RESTORE_INTERVAL_SECONDS)


class Recovery(bootsteps.StartStopStep):
    """The restorer, as a step of the worker: it runs from the worker's start to its shutdown."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.restorer = Restorer(JobService.from_settings(get_settings()))

    def start(self, parent: Any) -> None:
        self.restorer.start()

    def stop(self, parent: Any) -> None:
        self.restorer.stop()
