from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
from celery import Celery

from tests.harness.ports import wait_until


class CeleryWorker:
    """A real `celery worker` process (prefork pool) in its own process group."""

    def __init__(
        self,
        app: Celery,
        env: dict[str, str],
        log_dir: Path,
        queues: str = "default",
        concurrency: int = 2,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.app = app
        self.name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{self.name.split('@')[0]}.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "crawlfleet_workers.app",
                "worker",
                "-Q",
                queues,
                "-c",
                str(concurrency),
                "-n",
                self.name,
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            env={**os.environ, **env, **(extra_env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(self.ready, 60, f"celery worker {self.name} to answer ping (log: {self.log_path})", interval=0.2)
        except BaseException:
            self.stop()
            raise

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"worker exited with {self.process.returncode}: {self.log_path.read_text()[-3000:]}")
        return bool(self.app.control.ping(destination=[self.name], timeout=0.5))

    def crawl_processes(self) -> list[psutil.Process]:
        """The crawl processes: children of the worker's pool processes."""
        main = psutil.Process(self.process.pid)
        return [proc for proc in main.children(recursive=True) if proc.ppid() != main.pid]

    def kill(self) -> None:
        """SIGKILL the whole worker, pool processes and crawls included, as an OOM kill would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()
