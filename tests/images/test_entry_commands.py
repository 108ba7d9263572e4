"""Each command the image runs, as the chart renders it, works from the installed
package: the same arguments and environment (the image's PATH is a virtualenv like
.venv), against a real Redis. The image itself cannot be built here; this is the part
of "does the container start" that can be checked without one.

The `helm test` hook's script also runs here, for real, against these processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from crawlfleet_operator.config import OperatorConfig
from tests.harness.helm import Helm, Manifest, by_kind
from tests.harness.pods import expand
from tests.harness.ports import free_port, wait_until
from tests.harness.website import Website

VENV_BIN = Path(sys.executable).parent
API_TOKEN = "chart-entry-command-test-token"


def container_of(manifests: list[Manifest], deployment: str) -> dict[str, Any]:
    return dict(by_kind(manifests, "Deployment")[deployment]["spec"]["template"]["spec"]["containers"][0])


def pod_environment(
    manifests: list[Manifest], container: dict[str, Any], platform_env: Mapping[str, str], **secrets: str
) -> dict[str, str]:
    """What the container's process sees: the ConfigMap, its env (the Redis URLs
    pointing at the test Redis, Secrets replaced by `secrets`), PATH to the venv."""
    env = {"PATH": f"{VENV_BIN}{os.pathsep}/usr/bin:/bin", "LANG": "C.UTF-8"}
    env |= by_kind(manifests, "ConfigMap")["crawlfleet"]["data"]
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = expand(entry["value"], env)
        elif entry["name"] in secrets:
            env[entry["name"]] = secrets[entry["name"]]
    # The test Redis has no password; its URLs replace the chart's, with the test's time limits.
    return env | dict(platform_env)


def replace_arg(args: list[str], prefix: str, value: str) -> list[str]:
    assert any(arg.startswith(prefix) for arg in args), f"the chart no longer passes {prefix}"
    return [f"{prefix}{value}" if arg.startswith(prefix) else arg for arg in args]


class Process:
    """A component started with the chart's command line, logging to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        executable = VENV_BIN / args[0]
        assert os.access(executable, os.X_OK), f"{args[0]} is not installed in the virtualenv"
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [str(executable), *args[1:]], env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )

    def alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
        return True

    def terminate(self, timeout: float) -> int:
        """SIGTERM, as the kubelet sends it; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
            raise AssertionError(f"still running {timeout}s after SIGTERM:\n{self.log.read_text()[-3000:]}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.terminate(30)


@pytest.fixture(scope="module")
def manifests(helm: Helm) -> list[Manifest]:
    return helm.template()


@pytest.fixture(scope="module")
def helm() -> Helm:
    return Helm.find()


@pytest.fixture(scope="module")
def api(
    manifests: list[Manifest], platform_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, str]]:
    container = container_of(manifests, "crawlfleet-api")
    port = free_port()
    args = replace_arg(replace_arg(container["args"], "--host=", "127.0.0.1"), "--port=", str(port))
    env = pod_environment(manifests, container, platform_env, CRAWLFLEET_API_TOKENS=API_TOKEN)
    process = Process(args, env, tmp_path_factory.mktemp("api") / "api.log")
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: process.alive() and httpx.get(f"{url}/healthz").status_code == 200, 30, "the API to start")
    yield process, url
    process.stop()


@pytest.fixture(scope="module")
def worker(
    manifests: list[Manifest], platform_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, str, dict[str, str]]]:
    """The chart's worker on a queue of its own, so it takes no other test's tasks."""
    container = container_of(manifests, "crawlfleet-worker-default")
    queue = f"chart-{uuid.uuid4().hex[:8]}"
    env = pod_environment(manifests, container, platform_env)
    env["CRAWLFLEET_POD_NAME"] = env["HOSTNAME"] = socket.gethostname()
    process = Process(replace_arg(container["args"], "--queues=", queue), env, tmp_path_factory.mktemp("w") / "w.log")
    probe = container["livenessProbe"]["exec"]["command"]

    def probe_passes() -> bool:
        process.alive()
        return subprocess.run(probe, env=env, capture_output=True, timeout=60, check=False).returncode == 0

    wait_until(probe_passes, 90, "the worker's liveness probe (celery inspect ping) to pass", interval=1)
    yield process, queue, env
    process.stop()


def test_api_serves_with_the_charts_command(api: tuple[Process, str]) -> None:
    _, url = api
    assert httpx.get(f"{url}/readyz").status_code == 200, "Redis is reachable, so the API is ready"
    assert httpx.post(f"{url}/v1/jobs", json={"startUrls": ["https://example.com/"]}).status_code == 401
    assert "server" not in httpx.get(f"{url}/healthz").headers


def test_helm_test_hook_runs_a_job_to_success(
    manifests: list[Manifest], api: tuple[Process, str], worker: tuple[Process, str, dict[str, str]], website: Website
) -> None:
    _, url = api
    _, queue, _ = worker
    [hook] = [m for m in manifests if m["kind"] == "Pod"]
    container = hook["spec"]["containers"][0]
    env = {entry["name"]: entry.get("value", "") for entry in container["env"]}
    env |= {
        "PATH": os.environ["PATH"],
        "API_URL": url,
        "API_TOKENS": f"{API_TOKEN},another-token",
        "CRAWL_URL": website.url("/page/0"),
        "QUEUE": queue,
        "TIMEOUT_SECONDS": "90",
    }
    result = subprocess.run(
        [str(VENV_BIN / container["args"][0]), *container["args"][1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": SUCCESS" in result.stdout


def test_worker_shuts_down_warm_on_sigterm(worker: tuple[Process, str, dict[str, str]]) -> None:
    process, _, _ = worker
    assert process.terminate(60) == 0
    assert "Warm shutdown" in process.log.read_text()


def test_flower_serves_with_basic_auth(manifests: list[Manifest], platform_env: dict[str, str], tmp_path: Path) -> None:
    container = container_of(manifests, "crawlfleet-flower")
    port = free_port()
    env = pod_environment(manifests, container, platform_env, FLOWER_USERNAME="admin", FLOWER_PASSWORD="s3cret")
    # The ordering of env entries matters to the kubelet's expansion: the parts come first.
    assert env["FLOWER_BASIC_AUTH"] == "admin:s3cret"
    args = replace_arg(replace_arg(container["args"], "--address=", "127.0.0.1"), "--port=", str(port))
    process = Process(args, env, tmp_path / "flower.log")
    try:
        url = f"http://127.0.0.1:{port}"
        probe = container["livenessProbe"]["httpGet"]["path"]
        wait_until(lambda: process.alive() and httpx.get(url + probe).status_code == 200, 60, "Flower to start")
        assert httpx.get(f"{url}/").status_code == 401
        assert httpx.get(f"{url}/", auth=("admin", "s3cret")).status_code == 200
        assert process.terminate(30) in (0, -signal.SIGTERM)
    finally:
        process.stop()


def test_operator_command_and_its_settings(manifests: list[Manifest]) -> None:
    container = container_of(manifests, "crawlfleet-operator")
    args = container["args"]
    result = subprocess.run(
        [str(VENV_BIN / args[0]), *args[1:], "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    env = {
        entry["name"]: entry["value"] for entry in container["env"] if entry["name"].startswith("CRAWLFLEET_OPERATOR_")
    }
    assert set(env) == {
        "CRAWLFLEET_OPERATOR_NAMESPACES",
        "CRAWLFLEET_OPERATOR_RELEASE",
        "CRAWLFLEET_OPERATOR_HEALTH_PORT",
        "CRAWLFLEET_OPERATOR_METRICS_PORT",
        "CRAWLFLEET_OPERATOR_LOG_LEVEL",
        "CRAWLFLEET_OPERATOR_PEERING",
        "CRAWLFLEET_OPERATOR_PEERING_LIFETIME_SECONDS",
    }
    # The operator reads every setting the chart gives it (a name it does not know would be ignored).
    script = (
        "import json; from crawlfleet_operator.config import OperatorConfig; "
        "print(json.dumps(OperatorConfig().model_dump(mode='json')))"
    )
    settings = subprocess.run(
        [sys.executable, "-c", script],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    loaded = json.loads(settings)
    assert loaded == OperatorConfig().model_dump(mode="json") | {
        "namespaces": ["crawlfleet"],
        "release": "",
        "health_port": 8080,
        "metrics_port": 9090,
        "log_level": "info",
        "peering": "crawlfleet-operator",
        "peering_lifetime_seconds": 60,
    }
