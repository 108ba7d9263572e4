"""ScrapeJobs end to end: `python -m crawlfleet_operator` as a real process against a
real kube-apiserver, a real Redis and real Celery workers crawling a real local site."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from crawlfleet_core.model.states import JobState
from crawlfleet_core.service import JobService
from crawlfleet_core.settings import Settings
from tests.harness.celery_worker import CeleryWorker
from tests.harness.control_plane import ControlPlane
from tests.harness.ports import free_port, wait_until
from tests.harness.website import Website

REPO_ROOT = Path(__file__).resolve().parents[2]
NAMESPACE_PREFIX = "sjt-"


class Operator:
    """The operator as a user deploys it, limited to this module's namespaces so
    that other tests' operators can share the cluster."""

    def __init__(self, plane: ControlPlane, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.metrics_port = free_port()
        self.log_path = log_path
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "crawlfleet_operator", "--namespace", f"{NAMESPACE_PREFIX}*",
             "--health-port", str(self.port), "--verbose"],
            env={**os.environ, **env, **plane.environment(), "CRAWLFLEET_OPERATOR_STATUS_INTERVAL_SECONDS": "0.5",
                 "CRAWLFLEET_OPERATOR_SCHEDULE_INTERVAL_SECONDS": "1",
                 "CRAWLFLEET_OPERATOR_METRICS_PORT": str(self.metrics_port)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            wait_until(self.alive, 60, f"the operator's liveness endpoint (log: {log_path})", interval=0.2)
        except BaseException:
            self.stop()
            raise

    def alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"operator exited with {self.process.returncode}: {self.output()[-3000:]}")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
            return bool(response.status == 200)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as a node failure or an OOM kill would end it: no cleanup at all."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def cluster(control_plane: ControlPlane) -> ControlPlane:
    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "manifests" / "crds"))
    control_plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return control_plane


@pytest.fixture(scope="module")
def operator(
    cluster: ControlPlane,
    platform_env: dict[str, str],
    celery_worker: CeleryWorker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Operator]:
    running = Operator(cluster, platform_env, tmp_path_factory.mktemp("operator") / "operator.log")
    yield running
    running.stop()
    assert "finished with inconsistencies" not in running.output(), "a status patch was pruned by the schema"


class Namespace:
    """One test's namespace, read the way a user would: kubectl."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.name = f"{NAMESPACE_PREFIX}{uuid.uuid4().hex[:8]}"
        plane.kubectl("create", "namespace", self.name)

    def apply(self, name: str, *, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
        manifest = {
            "apiVersion": "crawlfleet.io/v1alpha1",
            "kind": "ScrapeJob",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": spec,
        }
        self.plane.kubectl("apply", "-n", self.name, "-f", "-", input=json.dumps(manifest))
        return self.get(name)

    def get(self, name: str) -> dict[str, Any]:
        return dict(json.loads(self.plane.kubectl("get", "sj", name, "-n", self.name, "-o", "json").stdout))

    def names(self, selector: str) -> set[str]:
        listing = self.plane.kubectl("get", "sj", "-n", self.name, "-l", selector, "-o", "name").stdout
        return {line.removeprefix("scrapejob.crawlfleet.io/") for line in listing.split()}

    def versions_until_deleted(self, name: str, timeout: float = 90) -> list[dict[str, Any]]:
        """Every version of the ScrapeJob a watch delivers, the last one as it was deleted."""
        versions: list[dict[str, Any]] = []
        with subprocess.Popen(
            [str(self.plane.assets_dir / "kubectl"), f"--kubeconfig={self.plane.kubeconfig}", "get", "sj", name,
             "-n", self.name, "--watch", "--output-watch-events", "-o", "json"],
            stdout=subprocess.PIPE,
            text=True,
        ) as watch:  # fmt: skip
            assert watch.stdout is not None
            deadline = threading.Timer(timeout, watch.kill)
            deadline.start()
            try:
                for line in watch.stdout:  # one event a line
                    event = json.loads(line)
                    versions.append(event["object"])
                    if event["type"] == "DELETED":
                        return versions
            finally:
                deadline.cancel()
                watch.kill()
        phases = [version.get("status", {}).get("phase") for version in versions]
        raise AssertionError(f"ScrapeJob {name} was not deleted within {timeout}s; its phases were {phases}")

    def exists(self, name: str) -> bool:
        return bool(self.plane.kubectl("get", "sj", name, "-n", self.name, "--ignore-not-found", "-o", "name").stdout)

    def wait_phase(self, name: str, phases: set[str], timeout: float = 60) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            body = self.get(name)
            return body if body.get("status", {}).get("phase") in phases else None

        return wait_until(reached, timeout, f"ScrapeJob {name} to reach {phases}", interval=0.2)  # type: ignore[return-value]

    def events(self, name: str) -> list[tuple[str, str]]:
        listing = json.loads(
            self.plane.kubectl(
                "get", "events", "-n", self.name, "--field-selector", f"involvedObject.name={name}", "-o", "json"
            ).stdout
        )
        ordered = sorted(listing["items"], key=lambda e: e.get("firstTimestamp") or e.get("eventTime") or "")
        return [(event["type"], event["reason"]) for event in ordered]

    def delete(self) -> None:
        self.plane.kubectl("delete", "namespace", self.name, "--wait=false")


@pytest.fixture
def namespace(cluster: ControlPlane) -> Iterator[Namespace]:
    space = Namespace(cluster)
    yield space
    space.delete()


def conditions(body: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in body["status"]["conditions"]}


def test_scrapejob_runs_to_success_with_exact_counts(
    operator: Operator, namespace: Namespace, website: Website, job_service: JobService
) -> None:
    created = namespace.apply("pages", startUrls=[website.url("/page/0")], extract={"title": "h1.title::text"})
    done = namespace.wait_phase("pages", {"Succeeded", "Failed", "Cancelled"})
    status = done["status"]
    assert status["phase"] == "Succeeded", status
    assert status["progress"]["pages"] == 15
    assert status["progress"]["items"] == 15
    assert status["progress"]["percent"] == 100
    assert status["jobId"] == created["metadata"]["uid"]
    assert status["celeryState"] == "SUCCESS"
    assert status["observedGeneration"] == done["metadata"]["generation"]
    assert conditions(done) == {"Ready": "True", "Running": "False", "Succeeded": "True", "Suspended": "False"}
    assert status["startedAt"] <= status["finishedAt"]
    job = job_service.status(status["jobId"])
    assert job is not None and job.tenant == namespace.name, "a ScrapeJob's job belongs to its namespace"
    items = job_service.store.read_items(status["jobId"], None, 100).items
    assert sorted(item["title"] for item in items) == sorted(f"Page {i}" for i in range(15))
    table = namespace.plane.kubectl("get", "sj", "pages", "-n", namespace.name).stdout.split()
    assert table[:5] == ["NAME", "PHASE", "PAGES", "ITEMS", "PROGRESS"]
    assert table[6:10] == ["pages", "Succeeded", "15", "15"]
    events = namespace.events("pages")
    assert ("Normal", "Succeeded") in events
    assert all(kind == "Normal" for kind, _ in events), events
    annotations = done["metadata"]["annotations"]
    assert "crawlfleet.io/last-handled-configuration" in annotations
    assert not any(key.startswith("kopf.zalando.org") for key in annotations)
    assert done["metadata"]["finalizers"] == ["crawlfleet.io/operator"]


def test_deleting_a_running_scrapejob_revokes_its_crawl(
    operator: Operator, namespace: Namespace, website: Website, job_service: JobService
) -> None:
    body = namespace.apply("endless", startUrls=[website.url("/slow/1000")], maxDepth=100, maxPages=1000)
    job_id = body["metadata"]["uid"]
    wait_until(
        lambda: namespace.get("endless")["status"].get("progress", {}).get("pages", 0) >= 2,
        60,
        "the slow crawl to report pages",
        interval=0.2,
    )
    namespace.plane.kubectl("delete", "sj", "endless", "-n", namespace.name, "--timeout=60s")
    assert not namespace.exists("endless")
    job = job_service.status(job_id)
    assert job is not None
    assert job.state is JobState.REVOKED

    def crawl_stopped() -> bool:
        before = len(website.paths_requested())
        time.sleep(2)
        return len(website.paths_requested()) == before

    wait_until(crawl_stopped, 30, "the site to stop hearing from the revoked crawl")


def test_a_restarted_operator_never_submits_twice(
    *,
    cluster: ControlPlane,
    platform_env: dict[str, str],
    celery_worker: CeleryWorker,
    namespace: Namespace,
    website: Website,
    tmp_path: Path,
) -> None:
    first = Operator(cluster, platform_env, tmp_path / "first.log")
    try:
        namespace.apply("restarted", startUrls=[website.url("/slow/5000")], maxDepth=100, maxPages=12)
        namespace.wait_phase("restarted", {"Running"})
    finally:
        first.kill()
    second = Operator(cluster, platform_env, tmp_path / "second.log")
    try:
        done = namespace.wait_phase("restarted", {"Succeeded", "Failed", "Cancelled"}, timeout=90)
    finally:
        second.stop()
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert done["status"]["progress"]["pages"] == 12
    assert website.paths_requested().count("/slow/5000") == 1, "the crawl was started a second time"
    assert done["status"]["jobId"] == done["metadata"]["uid"]


def test_a_suspended_scrapejob_waits_until_released(
    operator: Operator, namespace: Namespace, website: Website, job_service: JobService
) -> None:
    body = namespace.apply("held", startUrls=[website.url("/page/3")], maxDepth=0, suspend=True)
    held = namespace.wait_phase("held", {"Pending"})
    assert conditions(held)["Suspended"] == "True"
    time.sleep(1)
    assert job_service.status(body["metadata"]["uid"]) is None, "a suspended job was submitted"
    namespace.plane.kubectl(
        "patch", "sj", "held", "-n", namespace.name, "--type=merge", "-p", '{"spec":{"suspend":false}}'
    )
    done = namespace.wait_phase("held", {"Succeeded", "Failed", "Cancelled"})
    assert done["status"]["phase"] == "Succeeded"
    assert done["status"]["progress"]["pages"] == 1


def test_a_finished_scrapejob_goes_after_its_ttl(operator: Operator, namespace: Namespace, website: Website) -> None:
    ttl = 3
    namespace.apply("brief", startUrls=[website.url("/page/4")], maxDepth=0, ttlSecondsAfterFinished=ttl)
    versions = namespace.versions_until_deleted("brief")
    assert "Succeeded" in [version.get("status", {}).get("phase") for version in versions], versions
    wait_until(lambda: not namespace.exists("brief"), 60, "the finished ScrapeJob to be deleted after its TTL")
    last = versions[-1]
    finished = datetime.fromisoformat(last["status"]["finishedAt"])
    deleted = datetime.fromisoformat(last["metadata"]["deletionTimestamp"])
    # The API server stamps a deletion in whole seconds.
    assert deleted >= (finished + timedelta(seconds=ttl)).replace(microsecond=0)


def test_a_spec_the_api_server_admits_but_the_model_refuses_fails_visibly(
    operator: Operator, namespace: Namespace, website: Website
) -> None:
    namespace.apply("badselector", startUrls=[website.url("/page/0")], extract={"title": "h1[["})
    failed = namespace.wait_phase("badselector", {"Failed"})
    ready = next(c for c in failed["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidSpec"
    assert "spec.extract" in ready["message"]
    assert ("Warning", "Failed") in namespace.events("badselector")


def test_a_time_limit_beyond_the_platforms_fails_the_scrapejob_naming_the_limit_and_the_setting(
    operator: Operator, namespace: Namespace, website: Website, settings: Settings
) -> None:
    """The platform's limit is a setting of the running platform, which no CRD schema can carry."""
    limit = settings.soft_time_limit_seconds
    namespace.apply("toolong", startUrls=[website.url("/page/0")], timeLimitSeconds=limit + 1)
    failed = namespace.wait_phase("toolong", {"Failed"})
    ready = next(c for c in failed["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidSpec"
    assert "spec.timeLimitSeconds" in ready["message"]
    assert f"at most {limit} s" in ready["message"] and "CRAWLFLEET_SOFT_TIME_LIMIT_SECONDS" in ready["message"]
    assert "jobId" not in failed["status"]


def test_a_schedule_creates_runs_owned_by_it(operator: Operator, namespace: Namespace, website: Website) -> None:
    """Cron has minute ticks, so this waits for the next minute (under a minute)."""
    parent = namespace.apply("minutely", startUrls=[website.url("/page/5")], maxDepth=0, schedule="* * * * *")
    scheduled = namespace.wait_phase("minutely", {"Scheduled"})
    assert conditions(scheduled)["Ready"] == "True"

    def first_run() -> dict[str, Any] | None:
        listing = json.loads(
            namespace.plane.kubectl(
                "get", "sj", "-n", namespace.name, "-l", "crawlfleet.io/schedule=minutely", "-o", "json"
            ).stdout
        )
        return listing["items"][0] if listing["items"] else None

    run = wait_until(first_run, 75, "the schedule's first run")
    assert isinstance(run, dict)
    assert run["metadata"]["ownerReferences"][0]["uid"] == parent["metadata"]["uid"]
    assert "schedule" not in run["spec"]
    done = namespace.wait_phase(run["metadata"]["name"], {"Succeeded", "Failed", "Cancelled"})
    assert done["status"]["phase"] == "Succeeded"
    assert done["status"]["progress"]["pages"] == 1
    assert namespace.get("minutely")["status"]["lastScheduleTime"]
    assert ("Normal", "RunCreated") in namespace.events("minutely")


def test_a_schedule_keeps_its_newest_finished_runs_and_every_unfinished_one(
    operator: Operator, namespace: Namespace, website: Website
) -> None:
    """The runs are made here, labelled as the schedule labels its own, so that
    several finish within seconds rather than one a minute."""
    crawl: dict[str, Any] = {"startUrls": [website.url("/page/6")], "maxDepth": 0}
    namespace.apply("nightly", schedule="0 0 1 1 *", historyLimit=1, **crawl)
    namespace.wait_phase("nightly", {"Scheduled"})
    label = {"crawlfleet.io/schedule": "nightly"}
    namespace.apply("nightly-held", labels=label, suspend=True, **crawl)
    namespace.wait_phase("nightly-held", {"Pending"})

    def newer_than(created: str) -> bool:
        """Creation times have whole seconds: a run made now would be newer, not as new."""
        return datetime.now(UTC) >= datetime.fromisoformat(created) + timedelta(seconds=1)

    for number in range(1, 4):
        body = namespace.apply(f"nightly-{number}", labels=label, **crawl)
        done = namespace.wait_phase(f"nightly-{number}", {"Succeeded", "Failed", "Cancelled"})
        assert done["status"]["phase"] == "Succeeded"
        wait_until(partial(newer_than, body["metadata"]["creationTimestamp"]), 5, "the next second")
    wait_until(
        lambda: namespace.names("crawlfleet.io/schedule=nightly") == {"nightly-held", "nightly-3"},
        30,
        "the older finished runs to be deleted",
    )


def test_the_operator_serves_its_autoscaling_metrics(operator: Operator) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    for name in (
        "crawlfleet_pool_queued",
        "crawlfleet_pool_in_flight",
        "crawlfleet_pool_desired_replicas",
        "crawlfleet_pool_scale_events_total",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name


def test_the_operator_posts_an_event_for_each_scale_of_a_pool(operator: Operator, namespace: Namespace) -> None:
    """kopf's own log lines reach Events only from WARNING up; a scale is news all the same."""
    labels = {"app": "workers"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "workers"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "worker", "image": "crawlfleet/workers:test"}]},
            },
        },
    }
    pool = {
        "apiVersion": "crawlfleet.io/v1alpha1",
        "kind": "WorkerPool",
        "metadata": {"name": "pool"},
        "spec": {"queue": f"q-{uuid.uuid4().hex[:10]}", "deployment": "workers", "minReplicas": 2},
    }
    for manifest in (deployment, pool):
        namespace.plane.kubectl("apply", "-n", namespace.name, "-f", "-", input=json.dumps(manifest))

    def replicas() -> str:
        return namespace.plane.kubectl(
            "get", "deployment", "workers", "-n", namespace.name, "-o", "jsonpath={.spec.replicas}"
        ).stdout

    wait_until(lambda: replicas() == "2", 30, "the pool to scale its Deployment to minReplicas")
    wait_until(lambda: ("Normal", "ScaledUp") in namespace.events("pool"), 30, "a ScaledUp event")
