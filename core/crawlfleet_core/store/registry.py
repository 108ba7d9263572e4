"""Which queues are served: the API refuses a job for a queue nobody serves, which
would otherwise stay PENDING for good.

Two kinds of announcer say a queue is served, each for a while, and repeat it:

* a worker, for every queue it consumes (`crawlfleet_workers.announcement`), while
  it runs;
* the operator, for the queue of every WorkerPool it manages, at each poll, so that
  a pool scaled to zero, whose first worker starts only once jobs wait, still counts.

One sorted set in the broker's Redis, next to the queues themselves and the workers'
activity reports (`keys.served_queues()`): member = queue, score = the time (Unix
seconds) its latest announcement expires. `ZADD GT` only ever moves an expiry later,
so announcers with different intervals never cut one another short; each announcer
trims what expired. A reader needs one `ZRANGEBYSCORE`.

The commands are queued on a pipeline the caller brings, so that a synchronous client
(the workers, the API) and an asyncio one (the operator) share them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from crawlfleet_core.store.keys import served_queues

# A worker announces its queues this often, each announcement valid for three rounds.
WORKER_ANNOUNCE_SECONDS = 10.0
WORKER_ANNOUNCE_TTL_SECONDS = 3 * WORKER_ANNOUNCE_SECONDS


def pool_announcement_ttl(poll_interval_seconds: float) -> float:
    """How long the operator's announcement of a pool's queue holds: three polls and some slack."""
    return 3 * poll_interval_seconds + 10


def announce(pipe: Any, queues: Iterable[str], ttl_seconds: float, moment: float) -> None:
    """Queue on `pipe` (a pipeline of a sync or an asyncio client) the commands that
    announce `queues` as served until `moment + ttl_seconds`."""
    expiry = moment + ttl_seconds
    pipe.zadd(served_queues(), dict.fromkeys(queues, expiry), gt=True)
    pipe.zremrangebyscore(served_queues(), "-inf", f"({moment}")


def served_at(client: redis.Redis, moment: float) -> frozenset[str]:
    """The queues whose latest announcement has not expired at `moment`."""
    return frozenset(
        name.decode() if isinstance(name, bytes) else name
        for name in client.zrangebyscore(served_queues(), moment, "+inf")
    )
