"""Bearer tokens on /v1 when CRAWLFLEET_API_TOKENS is set; probes and docs open."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.api.conftest import ServeApp

TOKENS = "alpha-token-1234,beta-token-5678"
IDLE_QUEUE = "nobody-consumes-this"
SPEC = {"startUrls": ["https://example.com/"], "queue": IDLE_QUEUE}
V1_ROUTES = [
    ("POST", "/v1/jobs"),
    ("GET", "/v1/jobs/some-id"),
    ("GET", "/v1/jobs/some-id/events"),
    ("GET", "/v1/jobs/some-id/items"),
    ("DELETE", "/v1/jobs/some-id"),
    ("GET", "/v1/jobs"),
]


@pytest.fixture
def secured(serve_app: ServeApp) -> httpx.Client:
    return serve_app(api_tokens=TOKENS)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
def test_every_v1_route_needs_a_token(secured: httpx.Client, method: str, path: str) -> None:
    response = secured.request(method, path, json=SPEC if method == "POST" else None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer <token>" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
def test_a_wrong_token_is_401_invalid_token(secured: httpx.Client, method: str, path: str) -> None:
    response = secured.request(method, path, json=SPEC if method == "POST" else None, headers=bearer("alpha-token-123"))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.json() == {"detail": "invalid bearer token"}


@pytest.mark.parametrize(
    "authorization",
    [b"Basic YWxwaGEtdG9rZW4tMTIzNA==", b"alpha-token-1234", b"Bearer", b"Bearer \xc3\xa9l\xc3\xa8ve"],
)
def test_malformed_credentials_are_401_not_500(secured: httpx.Client, authorization: bytes) -> None:
    response = secured.get("/v1/jobs/some-id", headers={"Authorization": authorization})
    assert response.status_code == 401


@pytest.mark.parametrize("token", ["alpha-token-1234", "beta-token-5678"])
def test_each_configured_token_is_accepted(secured: httpx.Client, token: str) -> None:
    submitted = secured.post("/v1/jobs", json=SPEC, headers=bearer(token))
    assert submitted.status_code == 202
    job_id = submitted.json()["id"]
    assert secured.get(f"/v1/jobs/{job_id}", headers=bearer(token)).json()["state"] == "PENDING"
    assert secured.get("/v1/jobs/unknown", headers=bearer(token)).status_code == 404


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/docs", "/openapi.json", "/metrics"])
def test_probes_docs_and_metrics_need_no_token(secured: httpx.Client, path: str) -> None:
    assert secured.get(path).status_code == 200


def test_the_openapi_document_declares_bearer_auth_on_v1(secured: httpx.Client) -> None:
    document = secured.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert document["paths"]["/v1/jobs"]["post"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in document["paths"]["/healthz"]["get"]


def test_idempotency_keys_belong_to_the_token_that_used_them(secured: httpx.Client) -> None:
    key = {"Idempotency-Key": "shared-key-between-two-clients"}
    alpha = secured.post("/v1/jobs", json=SPEC, headers={**bearer("alpha-token-1234"), **key})
    beta = secured.post("/v1/jobs", json={**SPEC, "maxPages": 9}, headers={**bearer("beta-token-5678"), **key})
    assert alpha.status_code == beta.status_code == 202
    assert alpha.json()["id"] != beta.json()["id"]


def test_no_tokens_means_open_with_a_warning_at_startup(serve_app: ServeApp, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="crawlfleet_api"):
        client = serve_app(api_tokens="")
    assert client.post("/v1/jobs", json=SPEC).status_code == 202
    assert any("CRAWLFLEET_API_TOKENS is empty" in record.getMessage() for record in caplog.records)


def test_tokens_configured_means_no_warning(serve_app: ServeApp, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="crawlfleet_api"):
        serve_app(api_tokens=TOKENS)
    assert not any("CRAWLFLEET_API_TOKENS" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "content", [b"{not json", b'{"startUrls": ["https://example.com/"], "maxPages": NaN}', b"\xff"]
)
def test_a_body_is_read_only_once_the_token_is_checked(secured: httpx.Client, content: bytes) -> None:
    """Without a token, how a body is malformed is none of the client's business yet."""
    headers = {"Content-Type": "application/json"}
    assert secured.post("/v1/jobs", content=content, headers=headers).status_code == 401
    assert secured.post("/v1/jobs", content=content, headers={**headers, **bearer("wrong-token")}).status_code == 401
    assert (
        secured.post("/v1/jobs", content=content, headers={**headers, **bearer("alpha-token-1234")}).status_code == 422
    )


def test_without_tokens_the_openapi_document_asks_for_none(serve_app: ServeApp) -> None:
    document = serve_app(api_tokens="").get("/openapi.json").json()
    assert "securitySchemes" not in document.get("components", {})
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "security" not in operation
            assert not {"401", "403"} & set(operation["responses"])
