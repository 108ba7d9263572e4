"""Two replicas of the operator, as the chart runs them with `operator.replicas: 2`,
under their own ServiceAccount tokens on the test control plane: kopf's peering makes
one active and the other a standby, and when the active one dies without a word (a
lost node) the standby takes over the autoscaling."""

from __future__ import annotations

import pytest

from tests.harness.ports import wait_until
from tests.harness.redis_server import RedisServer
from tests.harness.releases import InstallRelease, Operator, Release

POOL = {
    "name": "default",
    "queue": "default",
    "concurrency": 1,
    "minReplicas": 1,
    "maxReplicas": 8,
    "pollIntervalSeconds": 0.5,
    "scaleDown": {"stabilizationWindowSeconds": 0},
}
VALUES = {"operator": {"replicas": 2, "peering": {"lifetimeSeconds": 5}}, "workers": {"pools": [POOL]}}


@pytest.fixture(scope="module")
def release(install_release: InstallRelease) -> Release:
    return install_release("ha", VALUES)


def test_the_standby_takes_over_when_the_active_replica_dies(release: Release, redis_server: RedisServer) -> None:
    replicas = release.start_operators(2)
    broker = redis_server.client(release.databases[0])
    deployment = f"{release.fullname}-worker-default"

    def scaled_to(count: int) -> bool:
        return bool(release.get("deployment", deployment)["spec"]["replicas"] == count)

    def roles() -> list[str]:
        return sorted(operator.role() for operator in replicas)

    wait_until(lambda: roles() == ["active", "standby"], 30, "one active replica and one standby")
    [active] = [operator for operator in replicas if operator.role() == "active"]
    [standby] = [operator for operator in replicas if operator is not active]
    broker.rpush(POOL["queue"], *(f"task-{n}" for n in range(3)))
    wait_until(lambda: scaled_to(3), 30, "the active replica to scale the pool")
    assert pool_series(standby) == 0, "a standby runs no pool daemon"

    active.process.kill()
    broker.rpush(POOL["queue"], *(f"task-{n}" for n in range(3, 6)))
    wait_until(lambda: standby.role() == "active", 60, "the standby to take over")
    wait_until(lambda: scaled_to(6), 30, "the new active replica to scale the pool")
    assert standby.ready()


def pool_series(operator: Operator) -> int:
    return sum(line.startswith("crawlfleet_pool_current_replicas{") for line in operator.metrics().splitlines())
