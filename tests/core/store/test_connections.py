"""Redis clients from the platform's URLs: plain ones, and sentinel:// ones that find
the primary through real sentinels."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawlfleet_core.settings import Settings
from crawlfleet_core.store.connections import SentinelAddress, async_redis_client, redis_client
from tests.harness.redis_server import RedisServer
from tests.harness.sentinel import MASTER_NAME, SentinelGroup

README = Path(__file__).resolve().parents[3] / "README.md"


def test_a_sentinel_url_names_every_sentinel_and_the_primarys_database_and_password() -> None:
    address = SentinelAddress.parse("sentinel://:s%40cret@10.0.0.1:26380/2;sentinel://10.0.0.2/2;sentinel://h3:1/2")
    assert address.sentinels == [("10.0.0.1", 26380), ("10.0.0.2", 26379), ("h3", 1)]
    assert (address.db, address.username, address.password) == (2, None, "s@cret")


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("sentinel://h1:26379/0;redis://h2:6379/0", "each part must be sentinel://"),
        ("sentinel:///0", "each part must be sentinel://"),
        ("sentinel://h1:26379/jobs", "the database must be a number"),
    ],
)
def test_a_malformed_sentinel_url_is_refused_saying_what_is_wrong(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        SentinelAddress.parse(url)


def test_the_readmes_sentinel_settings_are_what_the_platform_reads() -> None:
    section = README.read_text().split("### Redis Sentinel", 1)[1].split("\n## ", 1)[0]
    exports = dict(re.findall(r"^export (CRAWLFLEET_\w+)='?([^'\n]+)'?$", section, flags=re.MULTILINE))
    settings = Settings(**{name.removeprefix("CRAWLFLEET_").lower(): value for name, value in exports.items()})
    assert settings.redis_sentinel_master == "mymaster"
    for url, db in ((settings.broker_url, 0), (settings.result_backend, 1), (settings.job_store_url, 2)):
        address = SentinelAddress.parse(url)
        assert (len(address.sentinels), address.db, address.password) == (3, db, "pw")


def test_sentinel_urls_need_the_primarys_name() -> None:
    with pytest.raises(ValueError, match="CRAWLFLEET_REDIS_SENTINEL_MASTER"):
        Settings(job_store_url="sentinel://127.0.0.1:26379/2", redis_sentinel_master="")


def test_a_plain_url_gives_a_plain_client(redis_server: RedisServer) -> None:
    client = redis_client(redis_server.url(3), "", decode_responses=True)
    client.set("crawlfleet:test:plain", "yes")
    client.close()
    assert redis_server.client(3).get("crawlfleet:test:plain") == "yes"


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path)
    yield group
    group.stop()


async def async_round_trip(url: str, key: str) -> str | None:
    client = async_redis_client(url, MASTER_NAME, decode_responses=True, socket_timeout=2)
    try:
        await client.set(key, "async")
        value: str | None = await client.get(key)
        return value
    finally:
        await client.aclose()


def test_sentinel_clients_find_the_primary_through_the_sentinels(sentinels: SentinelGroup) -> None:
    """Following a failover is tested end to end, in tests/workers/test_sentinel.py."""
    url = sentinels.url(4)
    client = redis_client(url, MASTER_NAME, decode_responses=True, socket_timeout=2)
    client.set("crawlfleet:test:sync", "sync")
    client.close()
    assert asyncio.run(async_round_trip(url, "crawlfleet:test:async")) == "async"
    primary = sentinels.primary.client(4)
    assert (primary.get("crawlfleet:test:sync"), primary.get("crawlfleet:test:async")) == ("sync", "async")
