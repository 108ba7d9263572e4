"""Redis Sentinel on loopback: a primary, a replica and three sentinels, real
`redis-server` and `redis-sentinel` processes, for tests that kill the primary."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import redis

from tests.harness.ports import free_port, wait_until
from tests.harness.redis_server import RedisServer

MASTER_NAME = "crawlfleet"
QUORUM = 2
# Sentinel's timings, short so that a failover takes a few seconds, not a minute.
DOWN_AFTER_MILLISECONDS = 1000
FAILOVER_TIMEOUT_MILLISECONDS = 5000


class SentinelProcess:
    def __init__(self, directory: Path, primary_port: int) -> None:
        binary = shutil.which("redis-sentinel")
        if binary is None:
            raise RuntimeError(
                "redis-sentinel is not installed; `make test` installs it (apt-get install redis-sentinel)"
            )
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = directory / "sentinel.conf"  # Sentinel rewrites its configuration as it learns
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} {QUORUM}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MILLISECONDS}\n"
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MILLISECONDS}\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        self.log = (directory / "sentinel.log").open("wb")
        self.process = subprocess.Popen([binary, str(config)], stdout=self.log, stderr=subprocess.STDOUT)
        self.client = redis.Redis(port=self.port, decode_responses=True)
        wait_until(self.client.ping, 10, "redis-sentinel to answer PING")

    def primary_port(self) -> int:
        """The port of the primary this sentinel names (read from INFO: redis-py's own
        SENTINEL helpers fail to parse some answers)."""
        return int(self.master()["address"].rpartition(":")[2])

    def master(self) -> dict[str, object]:
        """What this sentinel knows of the primary: address, replicas, sentinels."""
        master: dict[str, object] = self.client.info("sentinel")["master0"]
        return master

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


class SentinelGroup:
    """A primary, its replica and three sentinels watching them as `MASTER_NAME`."""

    def __init__(self, directory: Path) -> None:
        self.primary = RedisServer(directory / "primary")
        self.replica: RedisServer | None = None
        self.sentinels: list[SentinelProcess] = []
        try:
            self.replica = RedisServer(directory / "replica", "--replicaof", "127.0.0.1", str(self.primary.port))
            wait_until(self._replicating, 30, "the replica to sync with the primary")
            for n in range(3):
                self.sentinels.append(SentinelProcess(directory / f"sentinel-{n}", self.primary.port))
        except BaseException:
            self.stop()
            raise

    @property
    def promoted(self) -> RedisServer:
        """The replica, which a failover promotes."""
        assert self.replica is not None
        return self.replica

    def _replicating(self) -> bool:
        return self.promoted.client(0).info("replication")["master_link_status"] == "up"

    def ready_to_fail_over(self) -> None:
        """Wait until every sentinel knows the replica (from the primary's INFO, which
        a sentinel reads every 10 s) and the other sentinels, so that they can promote it."""

        def watching() -> bool:
            masters = [sentinel.master() for sentinel in self.sentinels]
            return all((master["slaves"], master["sentinels"]) == (1, len(self.sentinels)) for master in masters)

        wait_until(watching, 30, "the sentinels to know the replica and one another")

    def url(self, db: int) -> str:
        """The platform's URL of database `db`, through every sentinel."""
        return ";".join(f"sentinel://127.0.0.1:{sentinel.port}/{db}" for sentinel in self.sentinels)

    def kill_primary(self) -> None:
        self.primary.process.send_signal(signal.SIGKILL)
        self.primary.process.wait(10)

    def failed_over(self) -> bool:
        """Whether every sentinel names the former replica as the primary."""
        return all(sentinel.primary_port() == self.promoted.port for sentinel in self.sentinels)

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        if self.replica is not None:
            self.replica.stop()
        if self.primary.process.poll() is None:
            self.primary.stop()
