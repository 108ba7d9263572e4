"""How much work a Celery queue holds, read from the broker's Redis in one round trip.

Work is what is waiting plus what workers have taken:

* waiting: the length of every priority sub-list of the queue. Celery's Redis
  transport splits a queue into one list per priority step (`keys.queue_lists`);
  counting only the bare list, as KEDA's Redis-lists scaler does, misses every task
  sent with a priority.
* in flight: kombu's Redis transport records every message it delivers to a
  consumer in the `unacked` hash (delivery tag -> JSON `[message, exchange,
  routing_key]`, with the delivery time in the `unacked_index` sorted set) and
  removes it only on ack or reject. With `task_acks_late` a task is acknowledged
  when it ends, so the hash holds exactly the tasks a worker has prefetched or is
  running, and also the tasks of a worker that died, until kombu restores them to
  the list after the visibility timeout. That is the broker's own bookkeeping, so it
  is true whether or not a worker is alive to report, unlike worker heartbeats or
  `inspect active`, which lose a task the moment its worker dies and need a
  broadcast round trip to every worker.

Every queue Celery creates (`task_create_missing_queues`) is bound with routing key
equal to the queue's name, and our queue names can hold no quote, so an entry
belongs to the queue when its JSON ends with `"<queue>"]`. The script compares that
fixed-length tail instead of decoding the message, so measuring costs Redis one
`LLEN` per priority step and one string compare per in-flight task, and the
operator one round trip per pool per poll, whatever the queue length.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from crawlfleet_core.keys import PREFIX, queue_lists

# kombu.transport.redis.Channel.unacked_key / unacked_index_key: our Celery app sets no
# other names and no global key prefix.
UNACKED_KEY = "unacked"

# Seconds a worker's report of the tasks it holds stays valid: three missed
# reports (the worker writes every `ACTIVITY_REPORT_SECONDS`) and it is gone.
ACTIVITY_REPORT_SECONDS = 2.0
ACTIVITY_TTL_SECONDS = 7

_MEASURE_SCRIPT = """
local waiting = 0
for i = 1, #KEYS - 1 do
    waiting = waiting + redis.call('LLEN', KEYS[i])
end
local tail = ARGV[1]
local n = #tail
local in_flight = 0
local entries = redis.call('HVALS', KEYS[#KEYS])
for i = 1, #entries do
    if string.sub(entries[i], -n) == tail then
        in_flight = in_flight + 1
    end
end
return {waiting, in_flight}
"""


def worker_activity_key(pod: str) -> str:
    """Where the worker running in `pod` reports how many tasks it holds."""
    return f"{PREFIX}:worker:{pod}:held"


@dataclass(frozen=True)
class QueueDepth:
    """A queue's work at one instant."""

    waiting: int
    in_flight: int

    @property
    def work(self) -> int:
        return self.waiting + self.in_flight


def broker_client(url: str, timeout_seconds: float = 2.0) -> aioredis.Redis:
    """A client that fails fast: an autoscaler must notice an unreachable broker
    within one poll, not retry for tens of seconds while a fleet goes unmanaged."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 1),
        decode_responses=True,
    )


class QueueGauge:
    """Measures queues on one broker. One instance serves every pool of the
    operator, so they share the connection pool and the loaded script."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._measure = client.register_script(_MEASURE_SCRIPT)

    async def depth(self, queue: str) -> QueueDepth:
        """Waiting and in-flight tasks of `queue`, atomically, in one round trip.

        Raises `redis.RedisError` (or `OSError`) when the broker cannot answer."""
        waiting, in_flight = await self._measure(keys=[*queue_lists(queue), UNACKED_KEY], args=[f'"{queue}"]'])
        return QueueDepth(waiting=int(waiting), in_flight=int(in_flight))

    async def held_tasks(self, pods: Sequence[str]) -> Mapping[str, int]:
        """Tasks each pod's worker reported holding; a pod with no fresh report
        (not started yet, hung, or gone) is absent."""
        if not pods:
            return {}
        values = await self.client.mget([worker_activity_key(pod) for pod in pods])
        return {pod: int(value) for pod, value in zip(pods, values, strict=True) if value is not None}
