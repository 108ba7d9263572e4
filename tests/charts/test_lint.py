"""`helm lint --strict`: with the defaults and with each major option."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness.helm import CHART, Helm

OPTIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "external-redis": {"redis": {"external": {"url": "rediss://redis.example.com:6380", "existingSecret": "r"}}},
    "ingress": {"api": {"ingress": {"enabled": True}}, "flower": {"ingress": {"enabled": True}}},
    "metrics": {"metrics": {"serviceMonitor": {"enabled": True}}},
    "cluster-wide-operator": {"operator": {"clusterWide": True}},
    "no-flower-no-network-policies": {"flower": {"enabled": False}, "networkPolicy": {"enabled": False}},
}


@pytest.mark.parametrize("values", OPTIONS.values(), ids=OPTIONS.keys())
def test_lint_strict(helm: Helm, values: dict[str, Any]) -> None:
    result = helm.run_with_values("lint", "--strict", str(CHART), values=values)
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout
    assert "[ERROR]" not in result.stdout
