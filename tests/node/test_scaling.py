"""The WorkerPool autoscaler scaling real worker pods on the node.

The release is upgraded first to what a team whose pool may sleep would set: a
pool from 0 to 6 pods with a 10 s scale-down window, and time limits short enough
that a killed crawl comes back within the test (Celery redelivers it after the
visibility timeout). Jobs crawl the test site in the node's network."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness.node import NodeCluster
from tests.harness.ports import wait_until
from tests.harness.release import RELEASE, SUCCEEDED, Release, state, submit, wait_finished

# A cluster start, an install or a scaling round takes minutes on two shared cores.
pytestmark = pytest.mark.timeout(900)

DEPLOYMENT = f"deployment/{RELEASE}-worker-default"
WINDOW_SECONDS = 10
POOL: dict[str, Any] = {
    "name": "default",
    "queue": "default",
    "concurrency": 4,
    "minReplicas": 0,
    "maxReplicas": 6,
    "scaleDown": {"stabilizationWindowSeconds": WINDOW_SECONDS},
}
SLEEPING_POOL = {
    "config": {"softTimeLimitSeconds": 60, "hardTimeLimitSeconds": 70, "visibilityTimeoutSeconds": 80},
    "workers": {"pools": [POOL]},
}


@pytest.fixture(scope="module")
def pool(release: Release) -> Release:
    release.upgrade(SLEEPING_POOL)
    wait_for_zero(release)
    return release


@pytest.fixture
def api(pool: Release) -> Iterator[httpx.Client]:
    with pool.api() as client:
        yield client


def replicas(release: Release) -> int:
    return int(release.get(DEPLOYMENT)["spec"].get("replicas", 0))


def wait_for_zero(release: Release, timeout: float = 300) -> None:
    wait_until(
        lambda: replicas(release) == 0 and not release.worker_pods(), timeout, "the pool to be at zero worker pods", 1
    )


def slow_crawl(site_url: str, seconds: int) -> dict[str, Any]:
    """A crawl that follows the site's slow pages until its own time limit closes it cleanly."""
    return {"startUrls": [f"{site_url}/slow/0"], "maxPages": 10000, "maxDepth": 100, "timeLimitSeconds": seconds}


def test_a_burst_of_jobs_scales_worker_pods_up_and_they_take_the_jobs(
    pool: Release, api: httpx.Client, node_cluster: NodeCluster
) -> None:
    jobs = [submit(api, slow_crawl(node_cluster.site_url, 15)) for _ in range(20)]
    # 20 jobs, 4 a pod: the operator asks for 5 pods at once.
    wait_until(lambda: replicas(pool) == 5, 60, "the pool to be scaled to 5 replicas", 0.5)
    final = wait_finished(api, jobs, timeout=600)
    assert set(final.values()) == {"SUCCESS"}, final
    taken = {pod: jobs_ & set(jobs) for pod, jobs_ in pool.jobs_taken().items()}
    assert sum(len(ids) for ids in taken.values()) >= len(jobs), taken
    busy = [pod for pod, ids in taken.items() if ids]
    assert len(busy) >= 2, f"only {busy} took jobs: {taken}"
    assert pool.worker_pool()["status"]["desiredReplicas"] >= 1


def test_the_busy_pod_is_removed_last_and_its_crawl_finishes(
    pool: Release, api: httpx.Client, node_cluster: NodeCluster
) -> None:
    wait_for_zero(pool)
    long_job = submit(api, slow_crawl(node_cluster.site_url, 50))
    short_jobs = [submit(api, {"startUrls": [f"{node_cluster.site_url}/page/0"], "maxPages": 3}) for _ in range(8)]
    wait_until(lambda: replicas(pool) == 3, 60, "the pool to be scaled to 3 replicas", 0.5)
    wait_until(lambda: state(api, long_job) == "PROGRESS", 300, "the long crawl to run")
    busy_pod = next(pod for pod, ids in pool.jobs_taken().items() if long_job in ids)
    assert set(wait_finished(api, short_jobs, timeout=300).values()) == {"SUCCESS"}
    # Only the long crawl is left in flight: one pod is enough, and it must be the busy one.
    wait_until(lambda: replicas(pool) == 1, 120, "the pool to scale down to 1 replica", 0.5)
    wait_until(lambda: len(pool.worker_pods()) == 1, 120, "the idle worker pods to be removed", 0.5)
    assert list(pool.worker_pods()) == [busy_pod], "the busy pod was removed while idle ones stayed"
    assert state(api, long_job) == "PROGRESS", "the long crawl must still be running in its pod"
    assert wait_finished(api, [long_job], timeout=120) == {long_job: "SUCCESS"}
    assert long_job in SUCCEEDED.findall(pool.logs(busy_pod)), "the crawl finished in the pod that started it"


def test_the_pool_goes_back_to_zero_after_the_window(
    pool: Release, api: httpx.Client, node_cluster: NodeCluster
) -> None:
    job = submit(api, {"startUrls": [f"{node_cluster.site_url}/page/0"], "maxPages": 3})
    wait_until(lambda: replicas(pool) == 1, 60, "the pool to wake up for one job", 0.5)
    assert wait_finished(api, [job], timeout=300) == {job: "SUCCESS"}
    wait_for_zero(pool, timeout=WINDOW_SECONDS + 120)
    status = pool.worker_pool()["status"]
    assert status["desiredReplicas"] == 0
    assert status["currentReplicas"] == 0


def test_a_deleted_busy_worker_pods_job_is_redelivered_and_finishes(
    pool: Release, api: httpx.Client, node_cluster: NodeCluster
) -> None:
    job = submit(api, slow_crawl(node_cluster.site_url, 20))
    wait_until(lambda: state(api, job) == "PROGRESS", 300, "the crawl to run")
    busy_pod = next(pod for pod, ids in pool.jobs_taken().items() if job in ids)
    # A second's grace: the pod is killed mid-crawl, as an eviction or a node failure would.
    pool.kubectl("delete", "pod", busy_pod, "--grace-period=1", "--wait=true")
    # The task was never acknowledged: after the visibility timeout Redis gives it to
    # the pod the Deployment started instead, and the crawl runs again to its end.
    assert wait_finished(api, [job], timeout=400) == {job: "SUCCESS"}
    finished_in = [pod for pod in pool.worker_pods() if job in SUCCEEDED.findall(pool.logs(pod))]
    assert finished_in and busy_pod not in finished_in, f"job {job} finished in {finished_in}"
