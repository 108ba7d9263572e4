"""What a job may ask for only where the platform offers it: a callbackUrl needs a
webhook signing key, a feed a bucket the platform lists."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ServeApp

BUCKET = "crawl-feeds"

SPEC = {
    "startUrls": ["https://example.com/"],
    "queue": "nobody-consumes-this",
    "callbackUrl": "https://hooks.example/x",
}


def test_a_callback_without_a_webhook_secret_is_a_422_naming_the_field(serve_app: ServeApp) -> None:
    response = serve_app(webhook_secret="").post("/v1/jobs", json=SPEC)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "callbackUrl"]
    assert "CRAWLFLEET_WEBHOOK_SECRET" in error["msg"]


def test_a_callback_is_accepted_and_kept_in_the_spec_with_a_secret(serve_app: ServeApp) -> None:
    client = serve_app(webhook_secret="a-secret-of-the-platform")
    response = client.post("/v1/jobs", json=SPEC)
    assert response.status_code == 202


def test_a_callback_must_be_an_http_url(serve_app: ServeApp) -> None:
    response = serve_app(webhook_secret="a-secret-of-the-platform").post(
        "/v1/jobs", json={**SPEC, "callbackUrl": "file:///etc/passwd"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "callbackUrl"]


@pytest.mark.parametrize(
    ("feeds", "where"),
    [
        ({"s3://not-offered/x.jsonl": {"format": "jsonl"}}, ["body", "feeds"]),
        ({"file:///etc/cron.d/x": {"format": "jsonl"}}, ["body", "feeds", "file:///etc/cron.d/x", "[key]"]),
        (
            {"s3://key:secret@crawl-feeds/x": {"format": "jsonl"}},
            ["body", "feeds", "s3://key:secret@crawl-feeds/x", "[key]"],
        ),
        ({f"s3://{BUCKET}/x": {"format": "pickle"}}, ["body", "feeds", f"s3://{BUCKET}/x", "format"]),
        (
            {f"s3://{BUCKET}/x": {"format": "jsonl", "item_filter": "os.system"}},
            ["body", "feeds", f"s3://{BUCKET}/x", "item_filter"],
        ),
    ],
)
def test_the_api_names_what_is_wrong_with_a_feed(serve_app: ServeApp, feeds: dict[str, Any], where: list[str]) -> None:
    client = serve_app(feeds_s3_buckets=[BUCKET])
    response = client.post("/v1/jobs", json={"startUrls": ["https://example.com/"], "queue": "nobody", "feeds": feeds})
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [where]


def test_a_feed_to_a_bucket_not_offered_names_the_bucket_and_the_offered_ones(serve_app: ServeApp) -> None:
    client = serve_app(feeds_s3_buckets=[BUCKET])
    feeds = {"s3://not-offered/x.jsonl": {"format": "jsonl"}}
    response = client.post("/v1/jobs", json={"startUrls": ["https://example.com/"], "queue": "nobody", "feeds": feeds})
    [error] = response.json()["detail"]
    assert error["msg"] == "s3://not-offered/x.jsonl: bucket 'not-offered' is not one feeds may write to (crawl-feeds)"
