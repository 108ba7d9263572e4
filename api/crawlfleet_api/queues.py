"""Which queues a job may name: the default queue, the queues some worker or WorkerPool
serves (`crawlfleet_core.store.registry`), and those an operator allows in
`CRAWLFLEET_EXTRA_QUEUES`. A job for any other queue would wait for good, so it is
refused with the queues that are known.

The served queues are read from Redis at most every `REFRESH_SECONDS` while a job names
a known one, and again at once for a name not known yet, so a worker that just started
is found without delay and the submission path costs no extra round trip."""

from __future__ import annotations

import fnmatch
import threading
import time
from dataclasses import dataclass, field

import redis

from crawlfleet_core.store.registry import served_at

REFRESH_SECONDS = 2.0
# The metrics' label for a queue allowed only by a pattern: one series for them all.
OTHER_QUEUE = "other"


@dataclass
class KnownQueues:
    client: redis.Redis
    default_queue: str
    extra: list[str]
    """Queue names, or shell patterns such as `batch-*`, allowed though nobody serves them."""
    _served: frozenset[str] = frozenset()
    _read_at: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def known(self, fresh: bool = False) -> frozenset[str]:
        """Every queue known by name; `fresh` reads the served ones from Redis now."""
        moment = time.time()
        if fresh or moment - self._read_at > REFRESH_SECONDS:
            served = served_at(self.client, moment)
            with self._lock:
                self._served, self._read_at = served, moment
        literal = {name for name in self.extra if not any(sign in name for sign in "*?[")}
        return self._served | literal | {self.default_queue}

    def admits(self, queue: str) -> bool:
        # The default queue and the allowed ones need no read of Redis.
        if queue == self.default_queue or any(fnmatch.fnmatchcase(queue, pattern) for pattern in self.extra):
            return True
        return queue in self.known() or queue in self.known(fresh=True)

    def label(self, queue: str) -> str:
        """`queue` as a metric label: known queues by name, the others as one."""
        return queue if queue == self.default_queue or queue in self.known() else OTHER_QUEUE
