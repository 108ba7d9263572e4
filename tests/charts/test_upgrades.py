"""`helm upgrade` while the operator scales a pool, on the test control plane with
the release's operator running under its own ServiceAccount token: the chart leaves
a worker Deployment's replicas to the operator, so no upgrade conflicts with the
operator's scale (server-side apply) and none takes the count back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from tests.harness.ports import wait_until
from tests.harness.redis_server import RedisServer
from tests.harness.releases import InstallRelease, Release

UPGRADES = 20
# One task per replica, so that the queue's length is the count the operator wants.
POOL = {
    "name": "default",
    "queue": "default",
    "concurrency": 1,
    "minReplicas": 1,
    "maxReplicas": 6,
    "pollIntervalSeconds": 0.5,
    "scaleDown": {"stabilizationWindowSeconds": 0},
}


def values(round_: int) -> dict[str, Any]:
    """Each upgrade changes the workers' pod template, so that Helm applies a real change to the Deployment."""
    return {"workers": {"pools": [POOL], "podAnnotations": {"test/round": str(round_)}}}


@pytest.fixture(scope="module")
def release(install_release: InstallRelease) -> Release:
    installed = install_release("up", values(0))
    installed.start_operators()
    return installed


def set_waiting(broker: redis.Redis, count: int) -> None:
    """`count` tasks waiting in the pool's queue, as the autoscaler measures them."""
    with broker.pipeline() as pipeline:
        pipeline.delete(POOL["queue"])
        if count:
            pipeline.rpush(POOL["queue"], *(f"task-{n}" for n in range(count)))
        pipeline.execute()


def replicas_managers(deployment: dict[str, Any]) -> set[str]:
    """Who owns `spec.replicas` in the Deployment's managed fields (manager, and subresource if any)."""
    return {
        f"{entry['manager']}{'/' + entry['subresource'] if entry.get('subresource') else ''}"
        for entry in deployment["metadata"]["managedFields"]
        if "f:replicas" in entry.get("fieldsV1", {}).get("f:spec", {})
    }


def test_upgrades_while_the_pool_scales_never_conflict(release: Release, redis_server: RedisServer) -> None:
    broker = redis_server.client(release.databases[0])
    deployment = f"{release.fullname}-worker-default"

    def replicas() -> int:
        return int(release.get("deployment", deployment)["spec"]["replicas"])

    failures, counts, owners = [], set(), set()
    for round_ in range(1, UPGRADES + 1):
        set_waiting(broker, round_ % POOL["maxReplicas"] + 1)
        result = release.upgrade(values(round_), check=False)
        if result.returncode:
            failures.append(result.stderr)
        live = release.get("deployment", deployment, "--show-managed-fields")
        counts.add(live["spec"]["replicas"])
        owners |= replicas_managers(live)
    assert failures == [], f"{len(failures)} of {UPGRADES} upgrades failed; the first: {failures[0]}"
    assert len(counts) > 2, f"the pool did not scale while the upgrades ran: {counts}"
    assert not any(owner.startswith("helm") for owner in owners), f"Helm took spec.replicas: {owners}"
    set_waiting(broker, 4)
    wait_until(lambda: replicas() == 4, 30, "the operator's count after the last upgrade")
    manifest = release.helm_run("get", "manifest", release.name).stdout
    worker = next(document for document in manifest.split("\n---") if f"name: {deployment}\n" in document)
    assert "replicas:" not in worker


def test_an_upgrade_keeps_generated_secrets(release: Release) -> None:
    secrets = f"{release.fullname}-redis", f"{release.fullname}-api-tokens", f"{release.fullname}-flower"

    def data() -> list[dict[str, str]]:
        return [release.get("secret", name)["data"] for name in secrets]

    before = data()
    release.upgrade(values(0))
    assert data() == before, "an upgrade must not change passwords and tokens under running clients"


def test_crds_upgrade_with_the_documented_command(release: Release) -> None:
    """Helm never upgrades crds/; docs/helm.md gives this command for it."""
    chart_crds = Path(__file__).resolve().parents[2] / "charts" / "crawlfleet" / "crds"
    result = release.plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(chart_crds))
    assert "serverside-applied" in result.stdout
