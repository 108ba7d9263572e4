from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.harness.ports import free_port, wait_until


class ApiProcess:
    """The `crawlfleet-api` console script, as a user or a container starts it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.log = log_path.open("wb")
        self.log_path = log_path
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "crawlfleet-api"), "--port", str(self.port)],
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until(self.healthy, 30, f"crawlfleet-api to answer /healthz (log: {log_path})", interval=0.1)

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"crawlfleet-api exited with {self.process.returncode}: {self.log_path.read_text()}")
        return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.log.close()
