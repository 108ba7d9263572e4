"""Pods of an installed release, run as local processes the way a kubelet would run them.

The test control plane has no kubelet: the controllers create a release's pods and
they stay Pending. For the tests that need the release's own processes (its
operator, its uninstall hook), this runs a pod's container from the installed
package (the image's virtualenv is this one) with what the kubelet would give it:
the environment read from the cluster (the ConfigMaps and Secrets it names, the
downward API, `$(VAR)` expansion) and a token of the pod's ServiceAccount bound to
the pod, in a kubeconfig. So the operator talks to the API server under the chart's
own RBAC, exactly as in a cluster. Only what cannot work on this machine is
replaced, by name: the Redis URLs (there is no cluster DNS) and the ports (several
pods share one host).

When the process of a Job's pod exits, its end is written into the pod's status as
the kubelet reports it, so that the Job completes and a Helm hook waiting on it
proceeds."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tests.harness.control_plane import ControlPlane
from tests.harness.ports import wait_until

VENV_BIN = Path(sys.executable).parent
Pod = dict[str, Any]


def expand(value: str, env: Mapping[str, str]) -> str:
    """The kubelet's `$(VAR)` expansion of env values and args."""
    return re.sub(r"\$\((\w+)\)", lambda match: env.get(match.group(1), match.group(0)), value)


class PodProcess:
    """One pod's (first) container, running as a local process in its own process group."""

    def __init__(self, pod: Pod, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.pod = pod
        self.name = str(pod["metadata"]["name"])
        self.log_path = log_path
        executable = VENV_BIN / args[0]
        assert os.access(executable, os.X_OK), f"{args[0]} is not installed in the virtualenv"
        self.started = datetime.now(UTC)
        self.spawned_at = time.monotonic()
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(executable), *args[1:]],
                env=env,
                cwd=log_path.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL, as a lost node or an OOM kill ends it: no cleanup at all."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, grace: float = 30) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds, as the kubelet stops a container."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()


class ReleasePods:
    """Runs the pods of one namespace. `overrides` replace environment variables of
    every container by name (Redis URLs, ports); `per_pod` adds more for one pod."""

    def __init__(self, plane: ControlPlane, namespace: str, directory: Path, overrides: Mapping[str, str]) -> None:
        self.plane = plane
        self.namespace = namespace
        self.directory = directory
        self.overrides = dict(overrides)
        self.processes: list[PodProcess] = []
        directory.mkdir(parents=True, exist_ok=True)

    def get(self, *what: str) -> dict[str, Any]:
        output = self.plane.kubectl("-n", self.namespace, "get", *what, "-o", "json").stdout
        return dict(json.loads(output))

    def pods(self, selector: str) -> list[Pod]:
        """The live pods that `selector` selects, oldest first."""
        items = self.get("pods", "-l", selector)["items"]
        live = [pod for pod in items if not pod["metadata"].get("deletionTimestamp")]
        return sorted(live, key=lambda pod: (pod["metadata"]["creationTimestamp"], pod["metadata"]["name"]))

    def wait_pods(self, selector: str, count: int, timeout: float = 60) -> list[Pod]:
        found = wait_until(lambda: len(self.pods(selector)) >= count or None, timeout, f"{count} pods of {selector}")
        assert found
        return self.pods(selector)[:count]

    def start(self, pod: Pod, extra: Mapping[str, str] | None = None, args: list[str] | None = None) -> PodProcess:
        """Run the pod's container, with `extra` environment, and `args` instead of its own if given."""
        container = pod["spec"]["containers"][0]
        env = self.environment(pod, container) | dict(extra or {})
        args = [expand(arg, env) for arg in args or container.get("command", []) + container.get("args", [])]
        process = PodProcess(pod, args, env, self.directory / f"{pod['metadata']['name']}.log")
        self.processes.append(process)
        return process

    def run_job(self, job: str, timeout: float = 120) -> threading.Thread:
        """In the background: wait for the pod of Job `job`, run it to its end, and
        report that end in the pod's status. Join the thread to wait for it."""

        def run() -> None:
            [pod] = self.wait_pods(f"job-name={job}", 1, timeout)
            process = self.start(pod)
            try:
                code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                code = -9
            self.report_end(pod, process, code)

        thread = threading.Thread(target=run, name=f"job {job}", daemon=True)
        thread.start()
        return thread

    def report_end(self, pod: Pod, process: PodProcess, code: int) -> None:
        container = pod["spec"]["containers"][0]
        stamp = {"startedAt": _timestamp(process.started), "finishedAt": _timestamp(datetime.now(UTC))}
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error", **stamp}
        status = {
            "phase": "Succeeded" if code == 0 else "Failed",
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container["image"],
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": {"terminated": terminated},
                }
            ],
        }
        self.plane.kubectl(
            "-n", self.namespace, "patch", "pod", pod["metadata"]["name"], "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}),
        )  # fmt: skip

    def environment(self, pod: Pod, container: dict[str, Any]) -> dict[str, str]:
        """What the kubelet puts in the container's environment, then the overrides."""
        env = {"PATH": f"{VENV_BIN}{os.pathsep}/usr/bin:/bin", "LANG": "C.UTF-8", "HOSTNAME": pod["metadata"]["name"]}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                env |= self._data("configmap", source["configMapRef"]["name"])
            elif "secretRef" in source:
                env |= self._data("secret", source["secretRef"]["name"])
        for entry in container.get("env", []):
            if "valueFrom" not in entry:  # the API server drops an empty value
                env[entry["name"]] = expand(entry.get("value", ""), env)
                continue
            reference = entry["valueFrom"]
            if "secretKeyRef" in reference:
                env[entry["name"]] = self._data("secret", reference["secretKeyRef"]["name"])[
                    reference["secretKeyRef"]["key"]
                ]
            elif "configMapKeyRef" in reference:
                env[entry["name"]] = self._data("configmap", reference["configMapKeyRef"]["name"])[
                    reference["configMapKeyRef"]["key"]
                ]
            elif "fieldRef" in reference:
                env[entry["name"]] = str(_field(pod, reference["fieldRef"]["fieldPath"]))
        if pod["spec"].get("automountServiceAccountToken"):
            env["KUBECONFIG"] = str(self.token_kubeconfig(pod))
        return env | self.overrides

    def token_kubeconfig(self, pod: Pod) -> Path:
        """A kubeconfig with a token of the pod's ServiceAccount, bound to the pod: it
        stops working when the pod is deleted, as a projected token does."""
        metadata = pod["metadata"]
        token = self.plane.kubectl(
            "-n", self.namespace, "create", "token", pod["spec"]["serviceAccountName"], "--duration=1h",
            "--bound-object-kind=Pod", f"--bound-object-name={metadata['name']}",
            f"--bound-object-uid={metadata['uid']}",
        ).stdout.strip()  # fmt: skip
        admin = yaml.safe_load(self.plane.kubeconfig.read_text())
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": admin["clusters"],
            "users": [{"name": "pod", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "pod",
                    "context": {"cluster": admin["clusters"][0]["name"], "user": "pod", "namespace": self.namespace},
                }
            ],
            "current-context": "pod",
        }
        path = self.directory / f"{metadata['name']}.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def _data(self, kind: str, name: str) -> dict[str, str]:
        data = self.get(kind, name).get("data", {})
        if kind == "secret":
            return {key: base64.b64decode(value).decode() for key, value in data.items()}
        return dict(data)

    def stop_all(self, grace: float = 30) -> None:
        for process in self.processes:
            process.stop(grace)


def _field(pod: Pod, path: str) -> Any:
    value: Any = pod
    for part in path.split("."):
        value = value[part]
    return value


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def release_pods(
    plane: ControlPlane, namespace: str, directory: Path, overrides: Mapping[str, str]
) -> Iterator[ReleasePods]:
    pods = ReleasePods(plane, namespace, directory, overrides)
    try:
        yield pods
    finally:
        pods.stop_all()
