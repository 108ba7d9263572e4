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
belongs to the queue whose name is the last string of its JSON (`..., "<queue>"]`).
The script reads only that tail instead of decoding the message, so measuring costs
Redis one `LLEN` per priority step and one short match per in-flight task, and the
operator at most one round trip per pool per poll, whatever the queue length.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from crawlfleet_core.store.connections import async_redis_client
from crawlfleet_core.store.keys import PRIORITY_STEPS, UNACKED, queue_lists, worker_activity_key
from crawlfleet_core.store.workers import heartbeat_tasks

# KEYS: the unacked hash, then each queue's priority lists in `keys.queue_lists` order.
# ARGV: the number of lists per queue, then the queue names. Returns waiting and in
# flight of each queue in turn. The routing key is read from the last 80 characters
# of each entry, so a large task body is never decoded or scanned.
_MEASURE_SCRIPT = """
local lists = tonumber(ARGV[1])
local counts, slot_of = {}, {}
for q = 2, #ARGV do
    local waiting = 0
    for l = 1, lists do
        waiting = waiting + redis.call('LLEN', KEYS[1 + (q - 2) * lists + l])
    end
    counts[2 * q - 3], counts[2 * q - 2] = waiting, 0
    slot_of[ARGV[q]] = 2 * q - 2
end
local entries = redis.call('HVALS', KEYS[1])
for i = 1, #entries do
    local routing_key = string.match(string.sub(entries[i], -80), '"([^"]*)"%]$')
    local slot = routing_key and slot_of[routing_key]
    if slot then
        counts[slot] = counts[slot] + 1
    end
end
return counts
"""


def _settle(pending: dict[str, asyncio.Future[QueueDepth]], done: asyncio.Future[dict[str, QueueDepth]]) -> None:
    for queue, future in pending.items():
        if future.done():
            continue
        if done.cancelled():
            future.cancel()
        elif (error := done.exception()) is not None:
            future.set_exception(error)
        else:
            future.set_result(done.result()[queue])


@dataclass(frozen=True)
class QueueDepth:
    """A queue's work at one instant."""

    waiting: int
    in_flight: int

    @property
    def work(self) -> int:
        return self.waiting + self.in_flight


# Messages read per round trip when looking for one task, so that a long queue never
# blocks Redis for long.
SEARCH_PAGE = 500


def task_in_broker(client: redis.Redis, queue: str, task_id: str) -> bool:
    """Whether the task waits in `queue` or a worker holds it (`client` decodes responses).

    Read page by page rather than in one script, and the lists before the unacked
    hash: a worker moves a message from a list to the hash, never back, so a task
    taken while it is being looked for is found in the hash. Costs a pass over the
    queue, for the rare job whose submitter died after publishing and before saying so."""
    needle = f'"id": "{task_id}"'
    for name in queue_lists(queue):
        start = 0
        while page := client.lrange(name, start, start + SEARCH_PAGE - 1):
            if any(needle in message for message in page):
                return True
            start += SEARCH_PAGE
    return any(needle in entry for _, entry in client.hscan_iter(UNACKED, count=SEARCH_PAGE))


def broker_client(url: str, sentinel_master: str, timeout_seconds: float = 2.0) -> aioredis.Redis:
    """A client that fails fast: an autoscaler must notice an unreachable broker
    within one poll, not retry for tens of seconds while a fleet goes unmanaged."""
    return async_redis_client(
        url,
        sentinel_master,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 1),
        decode_responses=True,
    )


class QueueGauge:
    """Measures queues on one broker. One instance serves every pool of the
    operator, so they share the connection pool and the loaded script.

    Requests that arrive within `BATCH_SECONDS` of each other are measured by one
    script call: pools that poll on the same beat (the operator aligns them to the
    wall clock) cost Redis one round trip and one pass over the unacked hash per
    beat, not one per pool."""

    BATCH_SECONDS = 0.005

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._measure = client.register_script(_MEASURE_SCRIPT)
        self._pending: dict[str, asyncio.Future[QueueDepth]] | None = None
        # Strong references, or a flush task could be garbage-collected mid-flight.
        self._flushing: set[asyncio.Future[dict[str, QueueDepth]]] = set()

    async def depth(self, queue: str) -> QueueDepth:
        """Waiting and in-flight tasks of `queue`, atomically.

        Raises `redis.RedisError` (or `OSError`) when the broker cannot answer."""
        if self._pending is None:
            self._pending = {}
            asyncio.get_running_loop().call_later(self.BATCH_SECONDS, self._flush)
        future = self._pending.get(queue)
        if future is None:
            future = self._pending[queue] = asyncio.get_running_loop().create_future()
        # Shielded: a pool cancelled while waiting must not cancel another pool's answer.
        return await asyncio.shield(future)

    def _flush(self) -> None:
        pending, self._pending = self._pending or {}, None
        task = asyncio.ensure_future(self.depths(list(pending)))
        task.add_done_callback(lambda done: _settle(pending, done))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def depths(self, queues: Sequence[str]) -> dict[str, QueueDepth]:
        """Waiting and in-flight tasks of each of `queues`, atomically, in one round trip."""
        lists = [name for queue in queues for name in queue_lists(queue)]
        counts = await self._measure(keys=[UNACKED, *lists], args=[len(PRIORITY_STEPS), *queues])
        return {
            queue: QueueDepth(waiting=int(counts[2 * i]), in_flight=int(counts[2 * i + 1]))
            for i, queue in enumerate(queues)
        }

    async def held_tasks(self, pods: Sequence[str]) -> Mapping[str, int]:
        """Tasks each pod's worker names in its heartbeat; a pod with no fresh
        heartbeat (not started yet, hung, or gone) is absent."""
        if not pods:
            return {}
        values = await self.client.mget([worker_activity_key(pod) for pod in pods])
        return {pod: len(heartbeat_tasks(value)) for pod, value in zip(pods, values, strict=True) if value is not None}
