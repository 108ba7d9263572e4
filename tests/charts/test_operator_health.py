"""The operator's probes on the test control plane, under the chart's RBAC: /readyz
says whether it reconciles, and says why not; /healthz fails only where a restart
would help, so losing its permissions makes it unready, not restarted."""

from __future__ import annotations

import pytest

from tests.harness.ports import wait_until
from tests.harness.releases import InstallRelease, Release


@pytest.fixture(scope="module")
def release(install_release: InstallRelease) -> Release:
    return install_release("probes")


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
