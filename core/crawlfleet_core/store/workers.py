"""Worker heartbeats, and the return to their queue of the tasks of workers that stopped.

kombu's Redis transport records every message it delivers in the broker's `unacked`
hash (delivery tag -> JSON `[message, exchange, routing_key]`, the delivery time in the
`unacked_index` sorted set) until the worker acknowledges it; with `task_acks_late`
that is when the task ends. It puts a message back in its queue only once it is older
than the visibility timeout, because it cannot tell a dead worker from a slow one: a
job whose worker was SIGKILLed (an OOM kill, a lost node) would wait 70 minutes.

Workers tell. Each writes a heartbeat, `keys.worker_activity_key(pod)`, every
`HEARTBEAT_SECONDS`, with a TTL of `HEARTBEAT_TTL_SECONDS`, naming the delivery tags
and task ids it holds (prefetched or running), and lists its pod in `keys.WORKERS`.
`RESTORE_SCRIPT` then returns to its queue every unacknowledged task that no live
heartbeat names, in one atomic step against the hash, the index and the queue's
priority lists, so that a worker acknowledging, kombu restoring, and another sweep
can never interleave with it.

kombu records a delivery in the hash a moment before the worker that took it can name
it, and a heartbeat can fail once. So a task is restored only after no heartbeat has
named it for `UNNAMED_GRACE_SECONDS`, counted on Redis's clock from the sweep that
first found it unnamed (the hosts' clocks never meet); a live worker names what it
holds well within that, and a task it names is never restored. A worker whose
heartbeat stays away longer than its TTL is dead to the fleet: its tasks run again
elsewhere. With the defaults a killed worker's tasks are back in their queue 13 to 17 s
after the kill: its heartbeat runs out 5 to 7 s after it, a sweep finds them unnamed
within 2 s, and the sweep 8 s later (the first past the 7 s grace) restores them.

Like `queues.QueueGauge`, the script takes a task's queue to be its routing key (true
of every queue Celery creates here) and needs no other key prefix than kombu's own."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import redis

from crawlfleet_core.store import keys

HEARTBEAT_SECONDS = 2.0
# Three missed heartbeats and the worker is gone.
HEARTBEAT_TTL_SECONDS = 7
UNNAMED_GRACE_SECONDS = HEARTBEAT_TTL_SECONDS
RESTORE_INTERVAL_SECONDS = 2.0

# KEYS: the heartbeat, keys.WORKERS. ARGV: the heartbeat's JSON, its TTL, the pod.
_BEAT_SCRIPT = """
local now = redis.call('TIME')
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(now[1]) + tonumber(ARGV[2]), ARGV[3])
"""

# KEYS: unacked, unacked_index, keys.WORKERS, keys.UNNAMED_TASKS, keys.RESTORE_LOCK.
# ARGV: grace seconds, lock milliseconds, the heartbeat key's text before and after the
# pod, the priority separator. Returns nil when another sweep holds the lock, else the
# restored tasks as [task id, queue] pairs.
#
# The message is pushed back exactly as kombu stored it, cut from the entry's text
# rather than decoded and encoded again, which could change it (an empty JSON array
# comes back from Lua's cjson as an object); it is decoded only to read its priority and
# id. It goes to the end of the list that kombu pops next, as kombu's own restore does.
_RESTORE_SCRIPT = """
if not redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[2]) then
    return nil
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local named = {}
for _, pod in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
    local beat = redis.call('GET', ARGV[3] .. pod .. ARGV[4])
    if beat then
        for tag in pairs(cjson.decode(beat).tasks) do
            named[tag] = true
        end
    end
end
local unnamed_since = {}
local unnamed = redis.call('HGETALL', KEYS[4])
for i = 1, #unnamed, 2 do
    unnamed_since[unnamed[i]] = tonumber(unnamed[i + 1])
end
redis.call('DEL', KEYS[4])
local restored = {}
for _, tag in ipairs(redis.call('HKEYS', KEYS[1])) do
    if not named[tag] then
        local since = unnamed_since[tag] or now
        local entry = redis.call('HGET', KEYS[1], tag)
        local message, queue = string.match(entry, '^%[(.*), "[^"]*", "([^"]*)"%]$')
        local readable, fields = pcall(cjson.decode, message or '')
        if now - since < tonumber(ARGV[1]) or not readable then
            redis.call('HSET', KEYS[4], tag, since)
        else
            local priority = math.max(0, math.min(9, math.floor(tonumber(fields.properties.priority) or 0)))
            local list = queue
            if priority > 0 then
                list = queue .. ARGV[5] .. priority
            end
            redis.call('RPUSH', list, message)
            redis.call('HDEL', KEYS[1], tag)
            redis.call('ZREM', KEYS[2], tag)
            restored[#restored + 1] = {fields.headers.id, queue}
        end
    end
end
return restored
"""


@dataclass(frozen=True)
class RestoredTask:
    task_id: str
    queue: str


def heartbeat_json(tasks: Mapping[str, str]) -> str:
    """A heartbeat: the delivery tags a worker holds, each with its task id."""
    return json.dumps({"tasks": dict(tasks)})


def heartbeat_tasks(heartbeat: str | None) -> dict[str, str]:
    """The tasks a heartbeat names, delivery tag -> task id; none for a missing one."""
    return dict(json.loads(heartbeat)["tasks"]) if heartbeat else {}


class WorkerHeartbeats:
    """Heartbeats of the workers of one broker, and the sweep for tasks whose worker
    stopped; `client` decodes responses."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._beat = client.register_script(_BEAT_SCRIPT)
        self._restore = client.register_script(_RESTORE_SCRIPT)

    def beat(self, pod: str, tasks: Mapping[str, str]) -> None:
        """Say that the worker of `pod` lives and holds `tasks` (delivery tag -> task id)."""
        self._beat(
            keys=[keys.worker_activity_key(pod), keys.WORKERS], args=[heartbeat_json(tasks), HEARTBEAT_TTL_SECONDS, pod]
        )

    def stop(self, pod: str) -> None:
        """The worker of `pod` stopped cleanly and holds nothing any more."""
        pipe = self.client.pipeline()
        pipe.delete(keys.worker_activity_key(pod))
        pipe.zrem(keys.WORKERS, pod)
        pipe.execute()

    def holds(self, pod: str, task_id: str) -> bool:
        """Whether the worker of `pod` is alive and names `task_id` among the tasks it holds."""
        return task_id in heartbeat_tasks(self.client.get(keys.worker_activity_key(pod))).values()

    def restore_orphans(
        self, lock_seconds: float = RESTORE_INTERVAL_SECONDS * 0.9, grace_seconds: float = UNNAMED_GRACE_SECONDS
    ) -> list[RestoredTask] | None:
        """Put back in their queues the tasks no live worker has named for `grace_seconds`;
        None when another sweep ran within `lock_seconds`."""
        before, _, after = keys.worker_activity_key("\0").partition("\0")
        restored = self._restore(
            keys=[keys.UNACKED, keys.UNACKED_INDEX, keys.WORKERS, keys.UNNAMED_TASKS, keys.RESTORE_LOCK],
            args=[grace_seconds, max(1, int(lock_seconds * 1000)), before, after, keys.PRIORITY_SEPARATOR],
        )
        if restored is None:
            return None
        return [RestoredTask(task_id, queue) for task_id, queue in restored]
