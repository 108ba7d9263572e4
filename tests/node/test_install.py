"""`helm install` on a real node: every pod runs from the image built from the
Dockerfile, `helm test` passes, and a ScrapeJob applied with kubectl is crawled by a
worker pod."""

from __future__ import annotations

import json

import pytest

from tests.harness.node import NodeCluster
from tests.harness.ports import wait_until
from tests.harness.release import DEFAULT_PODS, RELEASE, SUCCEEDED, Release

# A cluster start, an install or a scaling round takes minutes on two shared cores.
pytestmark = pytest.mark.timeout(900)


def test_every_pod_becomes_ready(release: Release) -> None:
    release.wait_ready(DEFAULT_PODS, timeout=600)
    claim = release.get("pvc", f"data-{RELEASE}-redis-0")
    assert claim["status"]["phase"] == "Bound", "Redis keeps its data on the node's disk"


def test_the_operator_is_refused_nothing(release: Release) -> None:
    """`kubectl logs` of the operator, once it manages the pool: the chart's RBAC
    grants every request it makes (a refused one stalls it while kopf retries)."""
    release.wait_ready(DEFAULT_PODS, timeout=600)
    wait_until(
        lambda: release.worker_pool().get("status", {}).get("currentReplicas") == 1,
        300,
        "the operator to report the pool's worker",
    )
    log = release.kubectl("logs", f"deployment/{RELEASE}-operator").stdout
    refused = [line for line in log.splitlines() if "Forbidden" in line]
    assert not refused, "\n".join(refused[:5])


def test_helm_test_submits_a_job_through_the_api_and_it_succeeds(release: Release) -> None:
    release.wait_ready(DEFAULT_PODS, timeout=600)
    output = release.helm_run("test", RELEASE, "--logs", "--timeout=5m")
    assert "Phase:          Succeeded" in output, output
    assert "SUCCESS" in output, output


def test_a_scrapejob_applied_with_kubectl_runs_in_a_worker_pod(release: Release, node_cluster: NodeCluster) -> None:
    release.wait_ready(DEFAULT_PODS, timeout=600)
    scrapejob = {
        "apiVersion": "crawlfleet.io/v1alpha1",
        "kind": "ScrapeJob",
        "metadata": {"name": "site-tree"},
        "spec": {
            "startUrls": [f"{node_cluster.site_url}/page/0"],
            "maxPages": 7,
            "extract": {"title": "h1.title::text"},
        },
    }
    release.kubectl("apply", "-f", "-", input=json.dumps(scrapejob))
    result = release.kubectl(
        "wait", "scrapejob/site-tree", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=300s", check=False
    )
    status = release.get("scrapejob", "site-tree").get("status", {})
    assert result.returncode == 0, f"ScrapeJob status: {status}"
    assert status["progress"]["pages"] == 7
    job_id = status["jobId"]
    ran_in = [name for name in release.worker_pods() if job_id in SUCCEEDED.findall(release.logs(name))]
    assert len(ran_in) == 1, f"no worker pod's log shows job {job_id} succeeded"
