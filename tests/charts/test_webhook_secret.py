"""The webhook signing key reaches every crawlfleet container from a Secret, never as a value."""

from __future__ import annotations

from tests.charts.test_rendering import containers, env_of
from tests.harness.helm import Helm, Manifest


def test_the_webhook_secret_comes_from_the_named_secret(helm: Helm) -> None:
    manifests = helm.template({"config": {"webhookSecret": {"name": "hooks", "key": "signing-key"}}})
    rendered = containers(manifests)
    for name in ("Deployment/crawlfleet-api/api", "Deployment/crawlfleet-worker-default/worker"):
        assert env_of(rendered[name])["CRAWLFLEET_WEBHOOK_SECRET"] == {
            "name": "CRAWLFLEET_WEBHOOK_SECRET",
            "valueFrom": {"secretKeyRef": {"name": "hooks", "key": "signing-key"}},
        }


def test_without_a_secret_no_container_gets_one(default_manifests: list[Manifest]) -> None:
    for container in containers(default_manifests).values():
        assert "CRAWLFLEET_WEBHOOK_SECRET" not in env_of(container)
