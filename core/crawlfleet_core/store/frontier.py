"""A job's crawl frontier in the job store: the requests waiting to be fetched, the
fingerprints of every request met, the requests in flight and the page budget, under
the job's own keys (`keys.frontier_keys`), kept as long as its record.

A request moves through it so:
- `push`: new to the job (its fingerprint not yet seen), it waits in the queue, ordered
  by priority, first come first served within one;
- `pop`: a crawl process (a shard) takes it while the page budget has a slot free; it
  is in flight, holding the slot, under the shard's name;
- `settle`: its fetch ended, as a page (which spends the slot) or not (which gives the
  slot back); it stays in flight until
- `acknowledge`: what its response yielded is stored (links in the queue, items in the
  job's stream), and it leaves the frontier.

A shard that died leaves its requests in flight; `reclaim` puts them back in the queue,
in their old places, and takes back what they held of the budget, so that a page
fetched but not acknowledged is fetched, and counted, once more, and no page is lost.
A shard reclaims what it held itself when it runs again (its task redelivered or
retried); one that never comes back is found out by its lease (`renew`), which it
renews while it runs, and what it held is reclaimed by any other once that runs out
(`reclaim_expired`).

Every step is one Lua script, so that the budget holds across any number of processes
sharing the frontier, and a process killed between two steps leaves it consistent.
Requests are stored as JSON."""

from __future__ import annotations

import redis

from crawlfleet_core.model.frontier import FrontierCounts
from crawlfleet_core.store import keys

# Every script takes the frontier's keys in the order of keys.FRONTIER_PARTS:
# KEYS[1] queue (a sorted set of request ids, scored by priority; an id is a zero-padded
# sequence number, so that ties come out first in first out), KEYS[2] requests (id to
# JSON), KEYS[3] seen (fingerprints), KEYS[4] in flight (id to "state|score|shard",
# state t: taken, p: fetched as a page, o: fetched otherwise), KEYS[5] counters (pages,
# in all and per shard as `pages:<shard>`, slots held, the sequence), KEYS[6] shards
# (name to when its lease runs out, in milliseconds of Redis's clock).
KEEP = """
local function keep(ttl)
    for i = 1, #KEYS do
        redis.call('EXPIRE', KEYS[i], ttl)
    end
end
"""

# ARGV: TTL, fingerprint ('' for a request exempt from the duplicate filter), score, JSON.
PUSH_SCRIPT = (
    KEEP
    + """
if ARGV[2] ~= '' and redis.call('SADD', KEYS[3], ARGV[2]) == 0 then
    return 0
end
local id = string.format('%016d', redis.call('HINCRBY', KEYS[5], 'sequence', 1))
redis.call('ZADD', KEYS[1], ARGV[3], id)
redis.call('HSET', KEYS[2], id, ARGV[4])
keep(ARGV[1])
return 1
"""
)

# ARGV: shard, page budget, TTL. Returns {id, JSON}, or nothing when the queue is empty
# or every slot of the budget is spent or held.
POP_SCRIPT = (
    KEEP
    + """
local counts = redis.call('HMGET', KEYS[5], 'pages', 'slots')
if (tonumber(counts[1]) or 0) + (tonumber(counts[2]) or 0) >= tonumber(ARGV[2]) then
    return false
end
local popped = redis.call('ZPOPMIN', KEYS[1])
if #popped == 0 then
    return false
end
local id = popped[1]
redis.call('HSET', KEYS[4], id, 't|' .. popped[2] .. '|' .. ARGV[1])
redis.call('HINCRBY', KEYS[5], 'slots', 1)
keep(ARGV[3])
return {id, redis.call('HGET', KEYS[2], id)}
"""
)

# ARGV: id, 1 for a page or 0. A request not taken (settled already, or reclaimed) settles nothing.
SETTLE_SCRIPT = """
local entry = redis.call('HGET', KEYS[4], ARGV[1])
if not entry or string.sub(entry, 1, 1) ~= 't' then
    return 0
end
redis.call('HINCRBY', KEYS[5], 'slots', -1)
local state = 'o'
if ARGV[2] == '1' then
    redis.call('HINCRBY', KEYS[5], 'pages', 1)
    redis.call('HINCRBY', KEYS[5], 'pages:' .. string.match(entry, '^%a|[^|]*|(.*)$'), 1)
    state = 'p'
end
redis.call('HSET', KEYS[4], ARGV[1], state .. string.sub(entry, 2))
return 1
"""

# ARGV: ids. Only a request whose fetch has ended leaves.
ACKNOWLEDGE_SCRIPT = """
local done = 0
for i = 1, #ARGV do
    local entry = redis.call('HGET', KEYS[4], ARGV[i])
    if entry and string.sub(entry, 1, 1) ~= 't' then
        redis.call('HDEL', KEYS[4], ARGV[i])
        redis.call('HDEL', KEYS[2], ARGV[i])
        done = done + 1
    end
end
return done
"""

# ARGV: a shard, or '' for every shard whose lease has run out. Their requests in flight
# go back to the queue with their scores, and give back their slot, or the page their
# fetch counted.
RECLAIM_SCRIPT = """
local reclaiming = {}
if ARGV[1] ~= '' then
    reclaiming[ARGV[1]] = true
else
    local time = redis.call('TIME')
    local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
    local leases = redis.call('HGETALL', KEYS[6])
    for i = 1, #leases, 2 do
        if tonumber(leases[i + 1]) < now then
            reclaiming[leases[i]] = true
            redis.call('HDEL', KEYS[6], leases[i])
        end
    end
end
local entries = redis.call('HGETALL', KEYS[4])
local reclaimed = 0
for i = 1, #entries, 2 do
    local state, score, shard = string.match(entries[i + 1], '^(%a)|([^|]*)|(.*)$')
    if reclaiming[shard] then
        if state == 't' then
            redis.call('HINCRBY', KEYS[5], 'slots', -1)
        elseif state == 'p' then
            redis.call('HINCRBY', KEYS[5], 'pages', -1)
            redis.call('HINCRBY', KEYS[5], 'pages:' .. shard, -1)
        end
        redis.call('HDEL', KEYS[4], entries[i])
        redis.call('ZADD', KEYS[1], score, entries[i])
        reclaimed = reclaimed + 1
    end
end
return reclaimed
"""

# ARGV: shard, lease milliseconds, TTL.
RENEW_SCRIPT = (
    KEEP
    + """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('HSET', KEYS[6], ARGV[1], now + tonumber(ARGV[2]))
keep(ARGV[3])
"""
)

NO_BUDGET = 2**53
"""A page budget no crawl reaches, for a frontier without one."""


class Frontier:
    """One job's frontier (see the module's docstring), with its page budget `limit`."""

    def __init__(self, client: redis.Redis, job_id: str, ttl_seconds: int, limit: int | None = None) -> None:
        self.client = client
        self.keys = keys.frontier_keys(job_id)
        self.queue_key, _, self.seen_key, self.in_flight_key, self.counters_key, _ = self.keys
        self.ttl_seconds = ttl_seconds
        self.limit = limit or NO_BUDGET
        self._push = client.register_script(PUSH_SCRIPT)
        self._pop = client.register_script(POP_SCRIPT)
        self._settle = client.register_script(SETTLE_SCRIPT)
        self._acknowledge = client.register_script(ACKNOWLEDGE_SCRIPT)
        self._reclaim = client.register_script(RECLAIM_SCRIPT)
        self._renew = client.register_script(RENEW_SCRIPT)

    def push(self, request: str, priority: int, fingerprint: str | None) -> bool:
        """Queue `request` (JSON) unless its `fingerprint` was seen; None exempts it from that check."""
        return bool(self._push(keys=self.keys, args=[self.ttl_seconds, fingerprint or "", -priority, request]))

    def seen(self, fingerprint: str) -> bool:
        """Whether the job met `fingerprint` before; it has now."""
        return not self.client.sadd(self.seen_key, fingerprint)

    def pop(self, shard: str) -> tuple[str, str] | None:
        """The next request's id and JSON, taken by `shard` with a slot of the budget;
        None when none waits or the budget has no slot free."""
        popped = self._pop(keys=self.keys, args=[shard, self.limit, self.ttl_seconds])
        if not popped:
            return None
        request_id, request = popped
        return _text(request_id), _text(request)

    def settle(self, request_id: str, *, page: bool) -> None:
        self._settle(keys=self.keys, args=[request_id, int(page)])

    def acknowledge(self, request_ids: list[str]) -> None:
        if request_ids:
            self._acknowledge(keys=self.keys, args=request_ids)

    def reclaim(self, shard: str) -> int:
        """Put `shard`'s requests in flight back in the queue; how many there were."""
        return int(self._reclaim(keys=self.keys, args=[shard]))

    def reclaim_expired(self) -> int:
        """Put the requests in flight of every shard whose lease ran out back in the queue."""
        return int(self._reclaim(keys=self.keys, args=[""]))

    def renew(self, shard: str, lease_seconds: float) -> None:
        """Hold `shard`'s lease for `lease_seconds` from now."""
        self._renew(keys=self.keys, args=[shard, round(lease_seconds * 1000), self.ttl_seconds])

    def counts(self) -> FrontierCounts:
        """The frontier's counts, read at one instant."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hmget(self.counters_key, "pages", "slots")
        pipe.hlen(self.in_flight_key)
        pipe.zcard(self.queue_key)
        (pages, slots), held, waiting = pipe.execute()
        return FrontierCounts(pages=int(pages or 0), slots=int(slots or 0), held=int(held), waiting=int(waiting))

    def pages_by_shard(self) -> dict[str, int]:
        """Pages each shard has fetched."""
        counters = self.client.hgetall(self.counters_key)
        return {
            _text(name).removeprefix("pages:"): int(count)
            for name, count in counters.items()
            if _text(name).startswith("pages:")
        }

    def spent(self) -> bool:
        """Whether the budget's every page is fetched."""
        return self.counts().pages >= self.limit

    def percent(self) -> float:
        """Share of the known work done: the pages fetched, of those the crawl will fetch
        as far as the requests in flight and waiting tell. It grows as links are found,
        and stays under 100 until the crawl has ended."""
        counts = self.counts()
        known = min(self.limit, counts.pages + counts.slots + counts.waiting)
        return round(min(99.0, 100.0 * counts.pages / known), 1) if known else 0.0


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
