"""The chart ships the CRDs of manifests/crds/ unchanged (hack/sync-chart-crds.sh copies them)."""

from __future__ import annotations

from tests.harness.control_plane import REPO_ROOT
from tests.harness.helm import CHART, Helm

SOURCE = REPO_ROOT / "manifests" / "crds"
SHIPPED = CHART / "crds"


def test_chart_crds_are_identical_to_manifests() -> None:
    source = {path.name: path.read_bytes() for path in SOURCE.glob("*.yaml")}
    shipped = {path.name: path.read_bytes() for path in SHIPPED.glob("*.yaml")}
    # Ours, generated from the models, and kopf's peering resources the operator's replicas share.
    assert set(source) == {
        "scrapejobs.crawlfleet.io.yaml",
        "workerpools.crawlfleet.io.yaml",
        "kopfpeerings.kopf.dev.yaml",
    }
    assert set(shipped) == set(source), "run hack/sync-chart-crds.sh"
    drifted = [name for name in source if shipped[name] != source[name]]
    assert not drifted, f"{drifted} differ from manifests/crds/; run hack/sync-chart-crds.sh"


def test_helm_installs_them_with_the_chart(helm: Helm) -> None:
    output = helm.run("show", "crds", str(CHART)).stdout
    assert "name: scrapejobs.crawlfleet.io" in output
    assert "name: workerpools.crawlfleet.io" in output
    assert "name: kopfpeerings.kopf.dev" in output
