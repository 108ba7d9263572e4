"""`python -m crawlfleet_operator.uninstall` with no operator running, against a real
API server: after its timeout it removes the operator's finalizer, and only that one,
from the objects the operator would run, and leaves other operators' objects alone.
(With the operator running, tests/charts/test_uninstall.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.harness.control_plane import ControlPlane

REPO_ROOT = Path(__file__).resolve().parents[2]
OURS, OTHERS = "crawlfleet.io/operator", "example.com/keep"


def scrapejob(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "crawlfleet.io/v1alpha1",
        "kind": "ScrapeJob",
        "metadata": {"name": name, "labels": labels, "finalizers": [OURS, OTHERS]},
        "spec": {"startUrls": ["https://example.com/"]},
    }


def test_without_an_operator_its_finalizer_goes_after_the_timeout(control_plane: ControlPlane) -> None:
    plane = control_plane
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "manifests" / "crds"))
    plane.kubectl("wait", "--for=condition=Established", "crd/scrapejobs.crawlfleet.io", "--timeout=60s")
    namespace = f"uninstall-{uuid.uuid4().hex[:8]}"
    plane.kubectl("create", "namespace", namespace)
    for manifest in (scrapejob("ours", {}), scrapejob("cluster-wide", {"crawlfleet.io/release": "other"})):
        plane.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    result = subprocess.run(
        [sys.executable, "-m", "crawlfleet_operator.uninstall", "--timeout=1"],
        env={**os.environ, **plane.environment(), "CRAWLFLEET_OPERATOR_NAMESPACES": namespace},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"the operator did not release ScrapeJob {namespace}/ours in 1s; removed its finalizer" in result.stdout

    def get(name: str) -> dict[str, Any]:
        return dict(json.loads(plane.kubectl("get", "sj", name, "-n", namespace, "-o", "json").stdout))

    ours = get("ours")["metadata"]
    assert "deletionTimestamp" in ours
    assert ours["finalizers"] == [OTHERS], "another controller's finalizer is its own business"
    others = get("cluster-wide")["metadata"]
    assert "deletionTimestamp" not in others, "a cluster-wide release's object is not this operator's"
    assert others["finalizers"] == [OURS, OTHERS]
    for name in ("ours", "cluster-wide"):
        plane.kubectl("patch", "sj", name, "-n", namespace, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    plane.kubectl("delete", "namespace", namespace, "--wait=false")
