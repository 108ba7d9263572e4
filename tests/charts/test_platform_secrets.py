"""The webhook signing key and the feeds' S3 credentials reach the containers from
Secrets, never as values; the feeds' other settings come from the ConfigMap."""

from __future__ import annotations

from tests.charts.test_rendering import containers, env_of
from tests.harness.helm import CHART, Helm, Manifest, by_kind


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


def test_the_feed_store_is_configured_and_its_credentials_come_from_the_named_secret(helm: Helm) -> None:
    feeds = {"buckets": ["crawls", "exports"], "endpointUrl": "https://s3.internal:9000", "secretName": "s3-creds"}
    manifests = helm.template({"config": {"feeds": feeds}})
    config = by_kind(manifests, "ConfigMap")["crawlfleet"]["data"]
    assert config["CRAWLFLEET_FEEDS_S3_BUCKETS"] == "crawls,exports"
    assert config["CRAWLFLEET_FEEDS_S3_ENDPOINT_URL"] == "https://s3.internal:9000"
    worker = env_of(containers(manifests)["Deployment/crawlfleet-worker-default/worker"])
    assert worker["CRAWLFLEET_FEEDS_S3_ACCESS_KEY_ID"]["valueFrom"] == {
        "secretKeyRef": {"name": "s3-creds", "key": "access-key-id"}
    }
    assert worker["CRAWLFLEET_FEEDS_S3_SECRET_ACCESS_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "s3-creds", "key": "secret-access-key"}
    }


def test_a_bucket_name_s3_would_refuse_is_refused_by_the_schema(helm: Helm) -> None:
    result = helm.run_with_values(
        "template", "crawlfleet", str(CHART), values={"config": {"feeds": {"buckets": ["Not_A_Bucket"]}}}, check=False
    )
    assert result.returncode != 0
    assert "buckets" in result.stderr
