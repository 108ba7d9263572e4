"""Pytest fixtures for tests that need the Kubernetes API: the control plane, once
per session. A test run that cannot have one fails; it never skips, because a green
run that skipped the Kubernetes tests would say nothing about them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.control_plane import ControlPlane


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager on loopback, or the cluster
    named by `CRAWLFLEET_TEST_KUBECONFIG`."""
    existing = os.environ.get("CRAWLFLEET_TEST_KUBECONFIG")
    if existing:
        yield ControlPlane.existing(Path(existing))
        return
    plane = ControlPlane.start(tmp_path_factory.mktemp("control-plane"))
    yield plane
    plane.stop()
