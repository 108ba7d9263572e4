"""The chart's own small programs, run as the chart renders them against a real
Redis: the workers' liveness probe, and the bundled Redis's start script, which
sets maxmemory from the container's memory limit."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from crawlfleet_core.store.keys import worker_activity_key
from tests.harness.helm import Manifest, by_kind
from tests.harness.ports import free_port, wait_until
from tests.harness.redis_server import RedisServer
from tests.harness.sentinel import MASTER_NAME, SentinelGroup

RELEASE = "crawlfleet"
VENV_BIN = Path(sys.executable).parent
MEBIBYTE = 1024 * 1024


def container(manifests: list[Manifest], kind: str, name: str, index: int = 0) -> dict[str, Any]:
    return dict(by_kind(manifests, kind)[name]["spec"]["template"]["spec"]["containers"][index])


class TestWorkerLivenessProbe:
    """Light (it imports no Celery app), and it fails only when Redis answers and the
    worker's report of its tasks is gone."""

    def probe(
        self, manifests: list[Manifest], broker_url: str, pod: str = "worker-pod", sentinel_master: str = ""
    ) -> subprocess.CompletedProcess[str]:
        command = container(manifests, "Deployment", f"{RELEASE}-worker-default")["livenessProbe"]["exec"]["command"]
        env = {
            "PATH": f"{VENV_BIN}{os.pathsep}/usr/bin:/bin",
            "CRAWLFLEET_BROKER_URL": broker_url,
            "CRAWLFLEET_POD_NAME": pod,
            "CRAWLFLEET_REDIS_SENTINEL_MASTER": sentinel_master,
        }
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)

    def test_passes_while_the_worker_reports(
        self, default_manifests: list[Manifest], redis_server: RedisServer
    ) -> None:
        redis_server.client(12).set(worker_activity_key("worker-pod"), 0, ex=10)
        result = self.probe(default_manifests, redis_server.url(12))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_fails_when_the_report_is_gone(self, default_manifests: list[Manifest], redis_server: RedisServer) -> None:
        redis_server.client(12).delete(worker_activity_key("worker-pod"))
        result = self.probe(default_manifests, redis_server.url(12))
        assert result.returncode == 1
        assert "worker worker-pod has stopped reporting" in result.stderr

    def test_reaches_the_report_through_redis_sentinel(self, default_manifests: list[Manifest], tmp_path: Path) -> None:
        sentinels = SentinelGroup(tmp_path)
        try:
            primary, url = sentinels.primary.client(0), sentinels.url(0)
            primary.set(worker_activity_key("worker-pod"), '{"tasks": {}}', ex=10)
            result = self.probe(default_manifests, url, sentinel_master=MASTER_NAME)
            assert result.returncode == 0, result.stdout + result.stderr
            primary.delete(worker_activity_key("worker-pod"))
            result = self.probe(default_manifests, url, sentinel_master=MASTER_NAME)
            assert result.returncode == 1
            assert "worker worker-pod has stopped reporting" in result.stderr
        finally:
            sentinels.stop()

    def test_passes_when_redis_is_unreachable(self, default_manifests: list[Manifest]) -> None:
        """A Redis outage is not the worker's fault: restarting every worker would not end it."""
        result = self.probe(default_manifests, f"redis://127.0.0.1:{free_port()}/0")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Redis did not answer" in result.stdout


@pytest.fixture
def chart_redis(default_manifests: list[Manifest], tmp_path: Path) -> Iterator[tuple[redis.Redis, int]]:
    """The bundled Redis started by the chart's own script and configuration, with the
    paths of the pod's volumes moved under a temporary directory and a free port: the
    container's memory limit is 64 MiB."""
    script = container(default_manifests, "StatefulSet", f"{RELEASE}-redis")["command"][-1]
    config = by_kind(default_manifests, "ConfigMap")[f"{RELEASE}-redis"]["data"]["redis.conf"]
    port, limit = free_port(), 64 * MEBIBYTE
    (tmp_path / "etc").mkdir()
    (tmp_path / "data").mkdir()
    config = config.replace("port 6379", f"port {port}\nbind 127.0.0.1").replace(
        "dir /data", f"dir {tmp_path / 'data'}"
    )
    (tmp_path / "etc" / "redis.conf").write_text(config)
    script = script.replace("/tmp/", f"{tmp_path}/").replace("/etc/redis/", f"{tmp_path}/etc/")
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is not installed"
    env = {
        "PATH": f"{Path(binary).parent}{os.pathsep}/usr/bin:/bin",
        "REDIS_PASSWORD": "s3cret",
        "MEMORY_LIMIT_BYTES": str(limit),
    }
    process = subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = redis.Redis(port=port, password="s3cret")
    try:
        wait_until(client.ping, 15, "the chart's Redis to start")
        yield client, limit
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        process.wait(15)


def test_redis_refuses_writes_before_its_memory_limit(chart_redis: tuple[redis.Redis, int]) -> None:
    client, limit = chart_redis
    maxmemory = int(client.config_get("maxmemory")["maxmemory"])
    assert 0.6 * limit < maxmemory < 0.8 * limit, "about 70% of the limit, room for rewrites and buffers"
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    refused = None
    for number in range(limit // MEBIBYTE):
        try:
            client.set(f"ballast-{number}", b"x" * MEBIBYTE)
        except redis.exceptions.OutOfMemoryError as error:
            refused = error
            break
    assert refused is not None, "Redis took writes up to its container's limit"
    assert int(client.info("memory")["used_memory"]) < limit
