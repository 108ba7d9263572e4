"""A changed secret reaches the pods that read it: `helm upgrade` with a new Redis
password or new API tokens changes those pods' templates (their checksum
annotations), so their controllers roll new pods, and leaves the others alone. So
does an upgrade after rotating a Secret of your own (`existingSecret`)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.harness.ports import wait_until
from tests.harness.releases import InstallRelease, Release

WORKLOADS = ("deployment/rot-crawlfleet-api", "deployment/rot-crawlfleet-flower", "deployment/rot-crawlfleet-operator",
             "deployment/rot-crawlfleet-worker-default", "statefulset/rot-crawlfleet-redis")  # fmt: skip
TOKENS_SECRET = "rot-tokens"


def own_tokens(token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": TOKENS_SECRET},
        "data": {"tokens": base64.b64encode(token.encode()).decode()},
    }


@pytest.fixture(scope="module")
def release(install_release: InstallRelease) -> Release:
    return install_release("rot")


def templates(release: Release) -> dict[str, dict[str, str]]:
    """Each workload's pod template annotations."""
    return {name: release.get(name)["spec"]["template"]["metadata"]["annotations"] for name in WORKLOADS}


def rolled(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> set[str]:
    return {name.split("/")[1].removeprefix("rot-crawlfleet-") for name in WORKLOADS if before[name] != after[name]}


def test_an_upgrade_without_changes_rolls_nothing(release: Release) -> None:
    before = templates(release)
    release.upgrade()
    assert rolled(before, templates(release)) == set()


def test_a_new_redis_password_rolls_every_pod_that_uses_redis(release: Release) -> None:
    before = templates(release)
    release.upgrade({"redis": {"auth": {"password": "rotated-password-1"}}})
    assert rolled(before, templates(release)) == {"api", "flower", "operator", "worker-default", "redis"}
    # The controllers roll out new pods with the new template.
    api = f"{release.fullname}-api"
    template = release.get("deployment", api)["spec"]["template"]["metadata"]["annotations"]

    def new_pods() -> bool:
        pods = release.pods.pods("app.kubernetes.io/component=api")
        return any(pod["metadata"]["annotations"] == template for pod in pods)

    wait_until(new_pods, 30, "the API's new pods")


def test_new_api_tokens_roll_the_api_only(release: Release) -> None:
    before = templates(release)
    release.upgrade({"redis": {"auth": {"password": "rotated-password-1"}}, "api": {"tokens": ["t" * 32]}})
    assert rolled(before, templates(release)) == {"api"}


def test_a_rotated_secret_of_your_own_rolls_on_the_next_upgrade(release: Release) -> None:
    values = {"redis": {"auth": {"password": "rotated-password-1"}}, "api": {"existingSecret": TOKENS_SECRET}}
    release.apply(own_tokens("first-token-of-my-own"))
    release.upgrade(values)
    before = templates(release)
    release.apply(own_tokens("second-token-of-my-own"))
    release.upgrade(values)
    assert rolled(before, templates(release)) == {"api"}
