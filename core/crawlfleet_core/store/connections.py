"""Redis clients from the platform's URLs, in one place for every component, sync
and asyncio alike.

A URL is either a plain `redis://` / `rediss://` / `unix://` one, or the form kombu
and Celery's result backend read for Redis Sentinel: `sentinel://host:port/db`, with
more sentinels after `;` (`sentinel://:password@s1:26379/2;sentinel://s2:26379/2`).
The database and the password come from the first; the password is the primary's,
as with kombu and Celery. A sentinel-managed client asks the sentinels for the
current primary whenever it connects, so after a failover it reconnects to the
promoted replica by itself; the primary's name (their `monitor` name) is the
setting `CRAWLFLEET_REDIS_SENTINEL_MASTER`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "sentinel"
SENTINEL_PORT = 26379

# What a client raises while Redis cannot be reached, a failover included; anything
# else (a ResponseError, say) is a bug, not an outage.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)


# Between retries while riding out an outage: 0.1 s, 0.2 s, ... up to this.
OUTAGE_BACKOFF_CAP_SECONDS = 2.0


def outage_retry(seconds: float) -> Retry:
    """A redis-py retry policy that goes on for about `seconds` while Redis cannot be
    reached, for clients that must outlast a failover rather than fail fast."""
    backoff = ExponentialBackoff(cap=OUTAGE_BACKOFF_CAP_SECONDS, base=0.05)
    retries, waited = 0, 0.0
    while waited < seconds:
        retries += 1
        waited += backoff.compute(retries)
    return Retry(backoff, retries)


def is_sentinel_url(url: str) -> bool:
    return urlsplit(url).scheme == SENTINEL_SCHEME


@dataclass(frozen=True)
class SentinelAddress:
    """Where the sentinels are, and the database and credentials to use on the primary."""

    sentinels: list[tuple[str, int]]
    db: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SentinelAddress:
        parts = [urlsplit(chunk) for chunk in url.split(";") if chunk.strip()]
        for part in parts:
            if part.scheme != SENTINEL_SCHEME or not part.hostname:
                raise ValueError(f"{part.geturl()!r} in {url!r}: each part must be sentinel://host[:port][/db]")
        first = parts[0]
        path = first.path.strip("/")
        if path and not path.isdigit():
            raise ValueError(f"{url!r}: the database must be a number, not {path!r}")
        return cls(
            sentinels=[(part.hostname or "", part.port or SENTINEL_PORT) for part in parts],
            db=int(path or 0),
            username=unquote(first.username) if first.username else None,
            password=unquote(first.password) if first.password else None,
        )

    def client_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {**options, "db": self.db, "username": self.username, "password": self.password}


def _sentinel_options(options: dict[str, Any]) -> dict[str, Any]:
    """A sentinel that does not answer must fail as fast as the primary would."""
    return {name: value for name, value in options.items() if name.startswith("socket_")}


# redis-py's classes are read as untyped (see pyproject.toml), hence the ignores.
class SentinelManagedRedis(redis.Redis):  # type: ignore[misc]
    """A client of the primary that closes its connections to the sentinels with its own."""

    def close(self) -> None:
        super().close()
        for sentinel in self.connection_pool.sentinel_manager.sentinels:
            sentinel.close()


class AsyncSentinelManagedRedis(aioredis.Redis):  # type: ignore[misc]
    """The asyncio twin of `SentinelManagedRedis`."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in self.connection_pool.sentinel_manager.sentinels:
            await sentinel.aclose()


def redis_client(url: str, sentinel_master: str, **options: Any) -> redis.Redis:
    """A client of the Redis `url` names; `options` are redis-py's connection options."""
    return cast(redis.Redis, _client(url, sentinel_master, options, redis.Redis, Sentinel, SentinelManagedRedis))


def async_redis_client(url: str, sentinel_master: str, **options: Any) -> aioredis.Redis:
    """The asyncio twin of `redis_client`."""
    return cast(
        aioredis.Redis,
        _client(url, sentinel_master, options, aioredis.Redis, AsyncSentinel, AsyncSentinelManagedRedis),
    )


def _client(
    url: str, sentinel_master: str, options: dict[str, Any], plain: Any, sentinel_class: Any, managed: Any
) -> Any:
    """A client of redis-py's sync or asyncio flavour, whose classes are passed in:
    the two mirror each other, so one function serves both."""
    if not is_sentinel_url(url):
        return plain.from_url(url, **options)
    address = SentinelAddress.parse(url)
    sentinel = sentinel_class(address.sentinels, sentinel_kwargs=_sentinel_options(options))
    return sentinel.master_for(sentinel_master, redis_class=managed, **address.client_options(options))
