"""Fixtures of the chart tests: the real helm, and the chart rendered with its defaults."""

from __future__ import annotations

import pytest

from tests.harness.helm import Helm, Manifest


@pytest.fixture(scope="session")
def helm() -> Helm:
    return Helm.find()


@pytest.fixture(scope="session")
def default_manifests(helm: Helm) -> list[Manifest]:
    return helm.template()
