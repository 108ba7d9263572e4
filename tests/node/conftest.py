"""The test node, once for the tests of this folder, and the chart installed on it.

The node is started only when a test here needs it and stopped after the last one,
so the rest of the suite never shares the machine's two cores with it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.helm import Helm
from tests.harness.node import NodeCluster
from tests.harness.release import RELEASE, Release


@pytest.fixture(scope="package")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    cluster = NodeCluster.start(tmp_path_factory.mktemp("node"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="package")
def release(node_cluster: NodeCluster, tmp_path_factory: pytest.TempPathFactory) -> Release:
    """`helm install` with the chart's defaults, but for the images it runs and the
    test site its crawls may reach (tests.harness.node.NodeCluster.chart_values).
    It goes with the node: no uninstall."""
    return Release.install(node_cluster, Helm.find(), RELEASE, tmp_path_factory.mktemp("values"))
