"""`helm uninstall` of a release whose operator holds finalizers, on the test control
plane with the operator running under its own ServiceAccount token: the pre-delete
hook lets the operator release its ScrapeJobs and WorkerPools before the operator and
its RBAC go, so `--wait` returns, the namespace can be deleted, and a reinstall of the
same name keeps its WorkerPool."""

from __future__ import annotations

from typing import Any

import pytest

from crawlfleet_core.model.states import JobState
from crawlfleet_core.service import JobService
from crawlfleet_core.settings import Settings
from tests.harness.control_plane import ControlPlane
from tests.harness.helm import Helm
from tests.harness.ports import wait_until
from tests.harness.redis_server import RedisServer
from tests.harness.releases import Release, scrapejob

NAMESPACE = "chart-uninstall"
FINALIZER = "crawlfleet.io/operator"


def job_service(release: Release, redis_server: RedisServer) -> JobService:
    broker, results, jobs = (redis_server.url(database) for database in release.databases)
    return JobService.from_settings(Settings(broker_url=broker, result_backend=results, job_store_url=jobs))


def finalized(body: dict[str, Any]) -> bool:
    return FINALIZER in body["metadata"].get("finalizers", [])


def test_uninstall_waits_for_the_operator_to_let_go(
    control_plane: ControlPlane, helm: Helm, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    release = Release(
        control_plane, helm, redis_server, tmp_path_factory.mktemp("uninstall"),
        name="gone", namespace=NAMESPACE, first_database=3,
    )  # fmt: skip
    release.install()
    try:
        release.start_operators()
        # No worker consumes this release's queue: the job stays queued, its finalizer on.
        release.apply(scrapejob("queued"))
        pool = f"{release.fullname}-worker-default"
        wait_until(lambda: release.get("sj", "queued").get("status", {}).get("jobId"), 30, "the job's submission")
        wait_until(lambda: finalized(release.get("wp", pool)), 30, "the pool's daemon and its finalizer")
        job_id = release.get("sj", "queued")["status"]["jobId"]
        old_pool = release.get("wp", pool)["metadata"]["uid"]

        release.uninstall("--wait", "--timeout=90s")
    finally:
        release.stop(grace=0)
    assert release.get("scrapejobs,workerpools")["items"] == []
    status = job_service(release, redis_server).status(job_id)
    assert status is not None
    assert status.state is JobState.REVOKED, "the operator cancelled the job as it let the ScrapeJob go"

    # A reinstall under the same name gets a WorkerPool of its own, which stays.
    release.install()
    try:
        release.start_operators()
        wait_until(lambda: release.get("wp", pool).get("status", {}).get("currentReplicas") == 1, 30, "the new pool")
        body = release.get("wp", pool)
        assert body["metadata"]["uid"] != old_pool
        assert "deletionTimestamp" not in body["metadata"]
        release.uninstall("--wait", "--timeout=90s")
    finally:
        release.stop(grace=0)
    # Nothing holds the namespace up.
    control_plane.kubectl("delete", "namespace", NAMESPACE, "--wait", "--timeout=60s")
    assert not control_plane.kubectl("get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "name").stdout
