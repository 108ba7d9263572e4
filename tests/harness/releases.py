"""Releases of the chart on the test control plane, with their operators running
under the chart's own ServiceAccount token (`tests.harness.pods`), as a platform
team would install them, upgrade them and take them down."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.harness.control_plane import ControlPlane
from tests.harness.helm import CHART, Helm
from tests.harness.pods import PodProcess, ReleasePods
from tests.harness.ports import free_port, wait_until
from tests.harness.redis_server import RedisServer

OPERATOR_PODS = "app.kubernetes.io/component=operator"


def restricted_namespace(plane: ControlPlane, name: str) -> None:
    """A namespace that enforces the `restricted` Pod Security Standard."""
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }
    plane.kubectl("apply", "-f", "-", input=json.dumps(manifest))


class Operator:
    """One operator pod's process, and its probes."""

    def __init__(self, process: PodProcess, health_port: int, metrics_port: int) -> None:
        self.process = process
        self.health_port = health_port
        self.metrics_port = metrics_port

    def probe(self, path: str) -> tuple[int, dict[str, Any]]:
        """The status and body of `/healthz` or `/readyz`."""
        if not self.process.running():
            raise AssertionError(f"operator exited: {self.process.output()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}{path}", timeout=3) as response:
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return int(error.code), json.loads(error.read())

    def ready(self) -> bool:
        return self.probe("/readyz")[0] == 200

    def role(self) -> str:
        return str(self.probe("/readyz")[1]["role"])

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=3) as response:
            return str(response.read().decode())


class Release:
    """`helm install` of the chart as `name` in its own restricted namespace. Its
    components' Redis is the test Redis, in databases of its own (`first_database`
    and the next two), as a release's own Redis would be."""

    def __init__(
        self,
        plane: ControlPlane,
        helm: Helm,
        redis: RedisServer,
        directory: Path,
        *,
        name: str,
        namespace: str,
        first_database: int,
    ) -> None:
        self.plane = plane
        self.helm = helm.against(plane.kubeconfig)
        self.name = name
        self.namespace = namespace
        self.databases = (first_database, first_database + 1, first_database + 2)
        for database in self.databases:
            redis.client(database).flushdb()
        broker, results, jobs = (redis.url(database) for database in self.databases)
        self.pods = ReleasePods(
            plane,
            namespace,
            directory / namespace,
            {
                "CRAWLFLEET_BROKER_URL": broker,
                "CRAWLFLEET_RESULT_BACKEND": results,
                "CRAWLFLEET_JOB_STORE_URL": jobs,
            },
        )
        self.operators: list[Operator] = []

    @property
    def fullname(self) -> str:
        return self.name if "crawlfleet" in self.name else f"{self.name}-crawlfleet"

    def helm_run(self, *args: str, values: Mapping[str, Any] | None = None, check: bool = True) -> Any:
        return self.helm.run_with_values(*args, f"--namespace={self.namespace}", values=values, check=check)

    def install(self, values: Mapping[str, Any] | None = None) -> None:
        restricted_namespace(self.plane, self.namespace)
        self.helm_run("install", self.name, str(CHART), values=values)

    def upgrade(self, values: Mapping[str, Any] | None = None, check: bool = True) -> Any:
        return self.helm_run("upgrade", self.name, str(CHART), values=values, check=check)

    def uninstall(self, *args: str) -> None:
        """`helm uninstall`, running its pre-delete hook's pod meanwhile. The operator
        pods are gone then; their processes, whose tokens died with the pods, are killed."""
        hook = self.pods.run_job(f"{self.fullname}-uninstall")
        result = self.helm_run("uninstall", self.name, *args, check=False)
        hook.join(30)
        self.stop(grace=0)
        if result.returncode:
            hooks = [process.output() for process in self.pods.processes if "-uninstall-" in process.name]
            raise AssertionError(f"helm uninstall failed: {result.stderr}\nthe hook's output: {hooks}")

    def start_operators(self, count: int = 1) -> list[Operator]:
        """Run the operator pods the chart's Deployment created, oldest first."""
        started = []
        for pod in self.pods.wait_pods(OPERATOR_PODS, count):
            health, metrics = free_port(), free_port()
            process = self.pods.start(
                pod,
                {"CRAWLFLEET_OPERATOR_HEALTH_PORT": str(health), "CRAWLFLEET_OPERATOR_METRICS_PORT": str(metrics)},
            )
            started.append(Operator(process, health, metrics))
        self.operators += started
        for operator in started:
            wait_until(operator.ready, 60, f"operator {operator.process.name} to be ready", interval=0.2)
        return started

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        return self.plane.kubectl("-n", self.namespace, *args, input=input, check=check)

    def get(self, *what: str, namespace: str | None = None) -> dict[str, Any]:
        output = self.plane.kubectl("-n", namespace or self.namespace, "get", *what, "-o", "json").stdout
        return dict(json.loads(output))

    def job_id(self, scrapejob: str, namespace: str | None = None) -> str:
        """The job id of a ScrapeJob, once an operator submitted it."""

        def submitted() -> str | None:
            return self.get("sj", scrapejob, namespace=namespace).get("status", {}).get("jobId")

        return str(wait_until(submitted, 30, f"ScrapeJob {scrapejob} to be submitted", interval=0.2))

    def apply(self, manifest: Mapping[str, Any], namespace: str | None = None) -> None:
        self.plane.kubectl("-n", namespace or self.namespace, "apply", "-f", "-", input=json.dumps(manifest))

    def stop(self, grace: float = 30) -> None:
        """Stop the pods' processes as the kubelet would, SIGKILL after `grace` seconds."""
        self.pods.stop_all(grace)


# What the chart tests' `install_release` fixture is: install(name, values, first_database=...).
InstallRelease = Callable[..., Release]


def scrapejob(name: str, labels: Mapping[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "crawlfleet.io/v1alpha1",
        "kind": "ScrapeJob",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": {"startUrls": ["https://example.com/"], **spec},
    }
