"""A Redis at its maxmemory (the chart's noeviction policy) refuses writes: the API
answers 503 with a reason and a Retry-After, and keeps nothing half-written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import ServeApp
from tests.harness.redis_server import RedisServer


@pytest.fixture
def full_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis holding some data, then limited to less memory than it uses."""
    server = RedisServer(tmp_path)
    client = server.client(2)
    client.set("ballast", "x" * 2_000_000)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1mb")
    yield server
    server.stop()


def test_a_full_redis_is_503_and_leaves_nothing_behind(serve_app: ServeApp, full_redis: RedisServer) -> None:
    client = serve_app(job_store_url=full_redis.url(2), broker_url=full_redis.url(0), result_backend=full_redis.url(1))
    response = client.post("/v1/jobs", json={"startUrls": ["https://example.com/"]})
    assert response.status_code == 503
    assert "full" in response.json()["detail"]
    assert int(response.headers["Retry-After"]) > 0
    assert sorted(full_redis.client(2).scan_iter("crawlfleet:job:*")) == []
