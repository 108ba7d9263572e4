"""The chart against the real kube-apiserver of the test control plane: every rendered
object is admitted (server-side dry run, so schemas, CRD validation and RBAC
escalation checks all run), then a real `helm install`, `upgrade` and `uninstall`.

The namespaces enforce the `restricted` Pod Security Standard, so the pods the
controllers create from the chart's templates must pass it to exist at all."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.harness.control_plane import ControlPlane
from tests.harness.helm import CHART, Helm
from tests.harness.ports import wait_until

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
    "ephemeral-redis": {"redis": {"persistence": {"enabled": False}}},
}


def create_namespace(control_plane: ControlPlane, name: str) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(manifest))


def get(control_plane: ControlPlane, namespace: str, *what: str) -> dict[str, Any]:
    output = control_plane.kubectl("-n", namespace, "get", *what, "-o", "json").stdout
    return dict(json.loads(output))


@pytest.fixture(scope="module")
def cluster(control_plane: ControlPlane, helm: Helm) -> ControlPlane:
    """The control plane with the chart's CRDs established, as `helm install` leaves them."""
    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CHART / "crds"))
    control_plane.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s",
        "crd/scrapejobs.crawlfleet.io", "crd/workerpools.crawlfleet.io",
    )  # fmt: skip
    return control_plane


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendered_object_is_admitted(cluster: ControlPlane, helm: Helm, variant: str) -> None:
    namespace = f"chart-dry-run-{variant}"
    create_namespace(cluster, namespace)
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
def installed(cluster: ControlPlane, helm: Helm) -> Iterator[tuple[Helm, str]]:
    namespace = "chart-install"
    create_namespace(cluster, namespace)
    client = helm.against(cluster.kubeconfig)
    result = client.run("install", RELEASE, str(CHART), f"--namespace={namespace}")
    assert "STATUS: deployed" in result.stdout
    yield client, namespace
    client.run("uninstall", RELEASE, f"--namespace={namespace}", "--wait", check=False)


def test_install_creates_the_platform(installed: tuple[Helm, str], cluster: ControlPlane) -> None:
    client, namespace = installed
    status = json.loads(client.run("status", RELEASE, f"--namespace={namespace}", "--output=json").stdout)
    assert status["info"]["status"] == "deployed"
    deployments = {d["metadata"]["name"] for d in get(cluster, namespace, "deployments")["items"]}
    assert deployments == {f"{RELEASE}-{name}" for name in ("api", "flower", "operator", "worker-default")}
    pools = get(cluster, namespace, "workerpools")["items"]
    assert [pool["spec"]["deployment"] for pool in pools] == [f"{RELEASE}-worker-default"]
    assert get(cluster, namespace, "statefulset", f"{RELEASE}-redis")["spec"]["replicas"] == 1


def test_controllers_create_pods_that_pass_the_restricted_standard(
    installed: tuple[Helm, str], cluster: ControlPlane
) -> None:
    """No kubelet runs here, so the pods stay Pending; but they exist only if the
    namespace's `restricted` Pod Security admission accepted them."""
    _, namespace = installed
    expected = {"api": 2, "flower": 1, "operator": 1, "worker": 1, "redis": 1}

    def pods_by_component() -> dict[str, int]:
        counts: dict[str, int] = {}
        for pod in get(cluster, namespace, "pods")["items"]:
            component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
            counts[component] = counts.get(component, 0) + 1
        return counts

    try:
        wait_until(lambda: pods_by_component() == expected, 60, "the controllers to create every pod")
    except AssertionError:
        events = cluster.kubectl("-n", namespace, "get", "events", "--field-selector=reason=FailedCreate").stdout
        raise AssertionError(
            f"pods: {pods_by_component()}, expected {expected}; FailedCreate events:\n{events}"
        ) from None


def test_upgrade_keeps_generated_secrets_and_the_operators_replicas(
    installed: tuple[Helm, str], cluster: ControlPlane
) -> None:
    client, namespace = installed

    def secret(name: str, key: str) -> str:
        return base64.b64decode(get(cluster, namespace, "secret", name)["data"][key]).decode()

    before = {
        "redis": secret(f"{RELEASE}-redis", "redis-password"),
        "api": secret(f"{RELEASE}-api-tokens", "tokens"),
        "flower": secret(f"{RELEASE}-flower", "password"),
    }
    # What the operator does when work arrives: set replicas through the scale subresource.
    cluster.kubectl("-n", namespace, "scale", f"deployment/{RELEASE}-worker-default", "--replicas=3")
    client.run("upgrade", RELEASE, str(CHART), f"--namespace={namespace}", "--set=api.replicas=3")
    after = {
        "redis": secret(f"{RELEASE}-redis", "redis-password"),
        "api": secret(f"{RELEASE}-api-tokens", "tokens"),
        "flower": secret(f"{RELEASE}-flower", "password"),
    }
    assert after == before, "an upgrade must not change passwords and tokens under running clients"
    assert get(cluster, namespace, "deployment", f"{RELEASE}-api")["spec"]["replicas"] == 3
    assert get(cluster, namespace, "deployment", f"{RELEASE}-worker-default")["spec"]["replicas"] == 3


def test_uninstall_removes_the_release(cluster: ControlPlane, helm: Helm) -> None:
    namespace = "chart-uninstall"
    create_namespace(cluster, namespace)
    client = helm.against(cluster.kubeconfig)
    client.run("install", RELEASE, str(CHART), f"--namespace={namespace}")
    client.run("uninstall", RELEASE, f"--namespace={namespace}", "--wait", "--timeout=60s")
    kinds = "deployments,statefulsets,services,secrets,networkpolicies,workerpools,roles,rolebindings"

    def left() -> list[str]:
        return [f"{item['kind']}/{item['metadata']['name']}" for item in get(cluster, namespace, kinds)["items"]]

    wait_until(lambda: left() == [], 30, "the release's objects to be deleted")
