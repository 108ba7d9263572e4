"""The ValidatingAdmissionPolicy the chart installs, on the test control plane: the
operator's ServiceAccount may patch a pod's deletion-cost annotation (what ranking
idle workers first needs) and nothing else of a pod, its image least of all."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.harness.ports import wait_until
from tests.harness.releases import InstallRelease, Release

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


class AsOperator:
    """Patches pods with a token of the operator's ServiceAccount, as the operator does."""

    def __init__(self, release: Release) -> None:
        plane = release.plane
        assert plane.credentials is not None, "the test control plane's CA signs the API server's certificate"
        self.context = ssl.create_default_context(cafile=plane.credentials.path("ca.crt"))
        self.base = f"{plane.server_url}/api/v1/namespaces/{release.namespace}/pods"
        self.token = release.kubectl("create", "token", f"{release.fullname}-operator").stdout.strip()

    def patch(
        self, pod: str, body: Any, content_type: str = "application/merge-patch+json", *, dry_run: bool = False
    ) -> tuple[int, str]:
        request = urllib.request.Request(  # noqa: S310 - the test API server's https URL
            f"{self.base}/{pod}{'?dryRun=All' if dry_run else ''}",
            data=json.dumps(body).encode(),
            method="PATCH",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=10) as response:  # noqa: S310
                return int(response.status), ""
        except urllib.error.HTTPError as error:
            with error:
                return int(error.code), str(json.loads(error.read())["message"])


@pytest.fixture(scope="module")
def release(install_release: InstallRelease) -> Release:
    return install_release("policy")


@pytest.fixture(scope="module")
def worker_pod(release: Release) -> str:
    [pod] = release.pods.wait_pods("app.kubernetes.io/component=worker", 1)
    name = str(pod["metadata"]["name"])
    # The API server enforces a new policy once its informers have it, a moment after the install.
    relabel = {"metadata": {"labels": {"policy": "enforced"}}}
    wait_until(lambda: AsOperator(release).patch(name, relabel, dry_run=True)[0] == 403, 30, "the policy to apply")
    return name


def test_the_operator_may_set_the_deletion_cost(release: Release, worker_pod: str) -> None:
    assert AsOperator(release).patch(worker_pod, {"metadata": {"annotations": {DELETION_COST: "2"}}}) == (200, "")
    assert release.get("pod", worker_pod)["metadata"]["annotations"][DELETION_COST] == "2"


@pytest.mark.parametrize(
    ("patch", "refusal"),
    [
        (
            [{"op": "replace", "path": "/spec/containers/0/image", "value": "attacker/miner:latest"}],
            "may not change a pod's spec",
        ),
        ({"metadata": {"annotations": {"sidecar.example.com/inject": "true"}}}, "may change no pod annotation but"),
        ({"metadata": {"labels": {"app.kubernetes.io/component": "api"}}}, "may not change a pod's labels"),
    ],
    ids=["image", "another-annotation", "labels"],
)
def test_the_operator_may_change_nothing_else(release: Release, worker_pod: str, patch: Any, refusal: str) -> None:
    content_type = "application/json-patch+json" if isinstance(patch, list) else "application/merge-patch+json"
    status, message = AsOperator(release).patch(worker_pod, patch, content_type)
    assert status == 403
    assert "ValidatingAdmissionPolicy" in message
    assert refusal in message
    assert release.get("pod", worker_pod)["spec"]["containers"][0]["image"].startswith("ghcr.io/crawlfleet/")
