"""The chart against the real kube-apiserver of the test control plane: every rendered
object is admitted (server-side dry run, so schemas, CRD validation and RBAC
escalation checks all run), then a real `helm install` (upgrades, uninstalls and the
operator running under the chart's RBAC have modules of their own).

The namespaces enforce the `restricted` Pod Security Standard, so the pods the
controllers create from the chart's templates must pass it to exist at all."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.harness.control_plane import ControlPlane
from tests.harness.helm import CHART, Helm
from tests.harness.ports import wait_until
from tests.harness.releases import InstallRelease, Release, restricted_namespace

RELEASE = "crawlfleet"

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "external-redis": {"redis": {"external": {"url": "rediss://redis.example.com:6380", "existingSecret": "r"}}},
    "ingress": {"api": {"ingress": {"enabled": True}}, "flower": {"ingress": {"enabled": True}}},
    "several-pools": {
        "workers": {
            "pools": [
                {"name": "default", "queue": "default", "concurrency": 4, "minReplicas": 1, "maxReplicas": 10},
                {
                    "name": "heavy",
                    "queue": "heavy",
                    "concurrency": 1,
                    "minReplicas": 0,
                    "maxReplicas": 3,
                    "scaleUp": {"maxStep": 1, "maxPercent": 50},
                    "scaleDown": {"stabilizationWindowSeconds": 600, "maxStep": 1},
                },
            ]
        }
    },
    "cluster-wide-operator": {"operator": {"clusterWide": True}},
    "operator-replicas-and-redis-exporter": {"operator": {"replicas": 2}, "redis": {"metrics": {"enabled": True}}},
    "ephemeral-redis": {"redis": {"persistence": {"enabled": False}}},
}


@pytest.fixture(scope="module")
def cluster(control_plane: ControlPlane, helm: Helm) -> ControlPlane:
    """The control plane with the chart's CRDs established, as `helm install` leaves them."""
    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CHART / "crds"))
    control_plane.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s",
        "crd/scrapejobs.crawlfleet.io", "crd/workerpools.crawlfleet.io", "crd/kopfpeerings.kopf.dev",
    )  # fmt: skip
    return control_plane


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendered_object_is_admitted(cluster: ControlPlane, helm: Helm, variant: str) -> None:
    namespace = f"chart-dry-run-{variant}"
    restricted_namespace(cluster, namespace)
    rendered = helm.run_with_values(
        "template", RELEASE, str(CHART), f"--namespace={namespace}", values=VARIANTS[variant]
    ).stdout
    documents = [document for document in yaml.safe_load_all(rendered) if document]
    # The ServiceAccount admission plugin wants a bare Pod's (the `helm test` hook's)
    # account to exist; helm creates hooks after the release, so it does.
    accounts = [document for document in documents if document["kind"] == "ServiceAccount"]
    cluster.kubectl(
        "apply",
        f"--namespace={namespace}",
        "-f",
        "-",
        input=json.dumps({"kind": "List", "apiVersion": "v1", "items": accounts}),
    )
    result = cluster.kubectl("apply", "--dry-run=server", f"--namespace={namespace}", "-f", "-", input=rendered)
    admitted = [line for line in result.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(admitted) == len(documents), result.stdout
    assert "Warning" not in result.stderr, result.stderr


@pytest.fixture(scope="module")
def installed(cluster: ControlPlane, install_release: InstallRelease) -> Release:
    return install_release(RELEASE)


def test_install_creates_the_platform(installed: Release) -> None:
    status = json.loads(installed.helm_run("status", RELEASE, "--output=json").stdout)
    assert status["info"]["status"] == "deployed"
    deployments = {d["metadata"]["name"] for d in installed.get("deployments")["items"]}
    assert deployments == {f"{RELEASE}-{name}" for name in ("api", "flower", "operator", "worker-default")}
    pools = installed.get("workerpools")["items"]
    assert [pool["spec"]["deployment"] for pool in pools] == [f"{RELEASE}-worker-default"]
    assert installed.get("statefulset", f"{RELEASE}-redis")["spec"]["replicas"] == 1


def test_controllers_create_pods_that_pass_the_restricted_standard(installed: Release) -> None:
    """No kubelet runs here, so the pods stay Pending; but they exist only if the
    namespace's `restricted` Pod Security admission accepted them."""
    expected = {"api": 2, "flower": 1, "operator": 1, "worker": 1, "redis": 1}

    def pods_by_component() -> dict[str, int]:
        counts: dict[str, int] = {}
        for pod in installed.get("pods")["items"]:
            component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
            counts[component] = counts.get(component, 0) + 1
        return counts

    try:
        wait_until(lambda: pods_by_component() == expected, 60, "the controllers to create every pod")
    except AssertionError:
        events = installed.kubectl("get", "events", "--field-selector=reason=FailedCreate").stdout
        raise AssertionError(
            f"pods: {pods_by_component()}, expected {expected}; FailedCreate events:\n{events}"
        ) from None
