"""The WorkerPool autoscaler as a real `kopf run` process against a real API server
and a real Redis, with its metrics served, for the pool tests and the benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

from tests.harness.control_plane import ControlPlane
from tests.harness.ports import free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKERPOOL_CRD = REPO_ROOT / "manifests" / "crds" / "workerpools.crawlfleet.io.yaml"


def worker_deployment(name: str, replicas: int) -> dict[str, Any]:
    """A Deployment a pool can scale; with no node its pods never run, which the pool's rule does not need."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "worker", "image": "crawlfleet/workers:test"}]},
            },
        },
    }


def worker_pool(name: str, **spec: Any) -> dict[str, Any]:
    """A WorkerPool scaling the Deployment of the same name."""
    return {
        "apiVersion": "crawlfleet.io/v1alpha1",
        "kind": "WorkerPool",
        "metadata": {"name": name},
        "spec": {"deployment": name, **spec},
    }


def install_workerpool_crd(plane: ControlPlane) -> None:
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(WORKERPOOL_CRD))
    plane.kubectl("wait", "--for=condition=Established", "crd/workerpools.crawlfleet.io", "--timeout=60s")


class PoolOperator:
    """`kopf run` of `crawlfleet_operator.pool_handlers` only, limited to namespaces
    matching `namespaces` so that several can share one cluster."""

    def __init__(self, plane: ControlPlane, env: dict[str, str], directory: Path, namespaces: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.metrics_port = free_port()
        entry = directory / "pool_operator_entry.py"
        entry.write_text(
            textwrap.dedent(
                f"""
                import kopf

                from crawlfleet_operator import pool_handlers  # noqa: F401  (registers the handlers)
                from crawlfleet_operator.metrics import start_metrics_server


                @kopf.on.startup()
                def serve_metrics(**_: object) -> None:
                    start_metrics_server({self.metrics_port}, "127.0.0.1")
                """
            )
        )
        self.log_path = directory / "pool-operator.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "--standalone", f"--namespace={namespaces}", str(entry)],
            env={**os.environ, **env, **plane.environment()},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self.serving, 60, f"the pool operator's metrics (log: {self.log_path})", interval=0.2)

    @property
    def pid(self) -> int:
        return self.process.pid

    def serving(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"operator exited with {self.process.returncode}: {self.output()[-3000:]}")
        return bool(self.metrics())

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode())

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log.close()
