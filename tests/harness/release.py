"""The chart installed on the test node, seen as its users see it: `helm`,
`kubectl get pods`, `kubectl logs`, and the API through `kubectl port-forward`."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.harness.helm import CHART, Helm
from tests.harness.node import NodeCluster
from tests.harness.ports import wait_until

RELEASE = "crawlfleet"
# The pods of an install with the chart's defaults: two API replicas, the default pool at its minReplicas (1).
DEFAULT_PODS = {"redis": 1, "api": 2, "flower": 1, "operator": 1, "worker": 1}
# Celery's worker log line for a task it took: "Task crawlfleet.crawl[<id>] received".
RECEIVED = re.compile(r"Task crawlfleet\.crawl\[([0-9a-f-]+)\] received")
SUCCEEDED = re.compile(r"Task crawlfleet\.crawl\[([0-9a-f-]+)\] succeeded")


@dataclass
class PortForward:
    """`kubectl port-forward` to a Service, on a free port of 127.0.0.1."""

    process: subprocess.Popen[str]
    port: int

    @classmethod
    def open(cls, cluster: NodeCluster, namespace: str, target: str, remote_port: int) -> PortForward:
        process = subprocess.Popen(
            [
                str(cluster.plane.assets_dir / "kubectl"),
                f"--kubeconfig={cluster.kubeconfig}",
                f"--namespace={namespace}",
                "port-forward",
                "--address=127.0.0.1",
                target,
                f":{remote_port}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        if match is None:
            process.kill()
            raise AssertionError(f"kubectl port-forward {target} failed: {line}{process.communicate(timeout=10)[1]}")
        return cls(process, int(match.group(1)))

    def close(self) -> None:
        self.process.terminate()
        self.process.communicate(timeout=10)


@dataclass
class Release:
    cluster: NodeCluster
    helm: Helm
    namespace: str
    values_dir: Path

    @classmethod
    def install(cls, cluster: NodeCluster, helm: Helm, namespace: str, values_dir: Path) -> Release:
        """`helm install` into a namespace that enforces the `restricted` Pod
        Security Standard, with the cluster's image and site values only."""
        manifest = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
        }
        cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
        release = cls(cluster, helm.against(cluster.kubeconfig), namespace, values_dir)
        release.deploy("install")
        return release

    def helm_run(self, *args: str) -> str:
        return self.helm.run(*args, f"--namespace={self.namespace}", timeout=600).stdout

    def deploy(self, command: str, values: Mapping[str, Any] | None = None) -> str:
        """`helm install` or `helm upgrade` of the chart, with the cluster's values and `values` over them."""
        self.values_dir.mkdir(parents=True, exist_ok=True)
        files = [self.values_dir / "cluster.yaml"]
        files[0].write_text(yaml.safe_dump(self.cluster.chart_values()))
        if values is not None:
            files.append(self.values_dir / f"{command}-{time.monotonic_ns()}.yaml")
            files[1].write_text(yaml.safe_dump(dict(values)))
        return self.helm_run(command, RELEASE, str(CHART), *(f"--values={path}" for path in files))

    def upgrade(self, values: Mapping[str, Any]) -> None:
        self.deploy("upgrade", values)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(f"--namespace={self.namespace}", *args, input=input, check=check)

    def get(self, *what: str) -> dict[str, Any]:
        return dict(json.loads(self.kubectl("get", *what, "-o", "json").stdout))

    def pods(self, component: str | None = None) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={RELEASE}"
        if component:
            selector += f",app.kubernetes.io/component={component}"
        return list(self.get("pods", f"--selector={selector}")["items"])

    @staticmethod
    def ready(pod: dict[str, Any]) -> bool:
        conditions = pod.get("status", {}).get("conditions", [])
        return pod["metadata"].get("deletionTimestamp") is None and any(
            c["type"] == "Ready" and c["status"] == "True" for c in conditions
        )

    def ready_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for pod in self.pods():
            if self.ready(pod):
                component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
                counts[component] = counts.get(component, 0) + 1
        return counts

    def describe_pods(self) -> str:
        """What a user looks at when pods are not Ready: their states and the namespace's events."""
        pods = self.kubectl("get", "pods", "-o", "wide", check=False).stdout
        events = self.kubectl("get", "events", "--sort-by=.lastTimestamp", check=False).stdout
        return f"{pods}\n{events[-4000:]}"

    def wait_ready(self, expected: Mapping[str, int], timeout: float) -> None:
        try:
            wait_until(lambda: self.ready_counts() == dict(expected), timeout, f"Ready pods {dict(expected)}", 1)
        except AssertionError as error:
            raise AssertionError(f"{error}; Ready now: {self.ready_counts()}\n{self.describe_pods()}") from None

    def worker_pool(self) -> dict[str, Any]:
        return self.get("workerpool", f"{RELEASE}-worker-default")

    def worker_pods(self) -> dict[str, dict[str, Any]]:
        return {pod["metadata"]["name"]: pod for pod in self.pods("worker")}

    def logs(self, pod: str) -> str:
        return self.kubectl("logs", pod, "--container=worker", check=False).stdout

    def jobs_taken(self, pods: list[str] | None = None) -> dict[str, set[str]]:
        """The crawl jobs each worker pod took, from its log."""
        names = pods if pods is not None else list(self.worker_pods())
        return {name: set(RECEIVED.findall(self.logs(name))) for name in names}

    def secret(self, name: str, key: str) -> str:
        return base64.b64decode(self.get("secret", name)["data"][key]).decode()

    @contextlib.contextmanager
    def api(self) -> Iterator[httpx.Client]:
        """An API client as a user has one: the generated token, the Service through a port-forward."""
        token = self.secret(f"{RELEASE}-api-tokens", "tokens").split(",")[0]
        forward = PortForward.open(self.cluster, self.namespace, f"service/{RELEASE}-api", 80)
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{forward.port}", headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as client:
                wait_until(lambda: client.get("/healthz").status_code == 200, 30, "the API through the port-forward")
                yield client
        finally:
            forward.close()


def submit(client: httpx.Client, spec: Mapping[str, Any]) -> str:
    response = client.post("/v1/jobs", json=dict(spec))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def state(client: httpx.Client, job_id: str) -> str:
    response = client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return str(response.json()["state"])


def wait_finished(client: httpx.Client, job_ids: list[str], timeout: float) -> dict[str, str]:
    """Poll until every job has finished; return each one's final state."""
    finished: dict[str, str] = {}

    def all_finished() -> bool:
        for job_id in job_ids:
            if job_id not in finished:
                current = state(client, job_id)
                if current in ("SUCCESS", "FAILURE", "REVOKED"):
                    finished[job_id] = current
        return len(finished) == len(job_ids)

    try:
        wait_until(all_finished, timeout, f"{len(job_ids)} jobs to finish", interval=1)
    except AssertionError:
        pending = {job_id: state(client, job_id) for job_id in job_ids if job_id not in finished}
        raise AssertionError(f"jobs still unfinished after {timeout}s: {pending}") from None
    return finished
