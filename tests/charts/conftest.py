"""Fixtures of the chart tests: the real helm, the chart rendered with its defaults,
and releases installed on the test control plane."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.harness.control_plane import ControlPlane
from tests.harness.helm import Helm, Manifest
from tests.harness.redis_server import RedisServer
from tests.harness.releases import InstallRelease, Release


@pytest.fixture(scope="session")
def helm() -> Helm:
    return Helm.find()


@pytest.fixture(scope="session")
def default_manifests(helm: Helm) -> list[Manifest]:
    return helm.template()


@pytest.fixture(scope="module")
def install_release(
    control_plane: ControlPlane, helm: Helm, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InstallRelease]:
    """`install(name, values, first_database=3)`: a release `name` in the namespace
    `chart-<name>`, its Redis in databases `first_database` to `first_database + 2`
    of the test Redis. Each is uninstalled, hook and all, after the module."""
    installed: list[Release] = []

    def install(name: str, values: Mapping[str, Any] | None = None, *, first_database: int = 3) -> Release:
        release = Release(
            control_plane, helm, redis_server, tmp_path_factory.mktemp(name),
            name=name, namespace=f"chart-{name}", first_database=first_database,
        )  # fmt: skip
        installed.append(release)
        release.install(values)
        return release

    yield install
    for release in installed:
        release.uninstall("--wait", "--timeout=60s")
