"""The operator's probes on the test control plane, under the chart's RBAC: /readyz
says whether it reconciles, and says why not; /healthz fails only where a restart
would help, so losing its permissions makes it unready, not restarted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.control_plane import ControlPlane
from tests.harness.helm import Helm
from tests.harness.ports import wait_until
from tests.harness.redis_server import RedisServer
from tests.harness.releases import Release


@pytest.fixture(scope="module")
def release(
    control_plane: ControlPlane, helm: Helm, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Release]:
    installed = Release(
        control_plane, helm, redis_server, tmp_path_factory.mktemp("health"),
        name="probes", namespace="chart-probes", first_database=3,
    )  # fmt: skip
    installed.install()
    yield installed
    installed.uninstall("--wait", "--timeout=60s")


def test_readiness_follows_what_reconciling_needs(release: Release) -> None:
    [operator] = release.start_operators()
    status, body = operator.probe("/readyz")
    assert (status, body["role"], body["problems"]) == (200, "active", [])

    release.kubectl("delete", "rolebinding", f"{release.fullname}-operator")

    def refused() -> list[str] | None:
        status, body = operator.probe("/readyz")
        return body["problems"] if status == 503 else None

    problems = wait_until(refused, 30, "the operator to notice it may no longer list its objects")
    assert any("forbidden" in problem for problem in problems), problems  # type: ignore[union-attr]
    assert operator.probe("/healthz")[0] == 200, "a restart would not give the permissions back"

    release.upgrade()  # Helm puts the binding back
    wait_until(operator.ready, 30, "the operator to be ready again")
