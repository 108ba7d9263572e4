from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import redis

from tests.harness.ports import free_port, wait_until


class RedisServer:
    """A real redis-server on a free loopback port, data in a temporary directory."""

    def __init__(self, directory: Path, *options: str) -> None:
        """`options` are more of redis-server's command-line options, such as `--replicaof`."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; `make test` installs it (apt-get install redis-server)")
        self.port = free_port()
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
                "--databases",
                "16",
                *options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_until(self.client(0).ping, 10, "redis-server to answer PING")

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def platform_env(self) -> dict[str, str]:
        """The settings that put a platform's three Redis databases on this server."""
        return {
            "CRAWLFLEET_BROKER_URL": self.url(0),
            "CRAWLFLEET_RESULT_BACKEND": self.url(1),
            "CRAWLFLEET_JOB_STORE_URL": self.url(2),
        }

    def client(self, db: int) -> redis.Redis:
        return redis.Redis(port=self.port, db=db, decode_responses=True)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
