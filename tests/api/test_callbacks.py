"""A callbackUrl is accepted only where webhooks can be signed."""

from __future__ import annotations

from tests.api.conftest import ServeApp

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
