"""Tenants: a token names one, a job belongs to the tenant that submitted it, and a
tenant sees, lists and cancels only its own jobs; an admin token sees all."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from crawlfleet_api.config import ApiSettings
from crawlfleet_api.tokens import ApiToken, Role
from tests.api.conftest import ServeApp

ALPHA, BETA, ADMIN, DEPLOYER = "alpha-secret-1", "beta-secret-22", "admin-secret-333", "deploy-secret-4444"
TOKENS = f"alpha:{ALPHA},beta:{BETA}:submit,ops:{ADMIN}:admin,ci:{DEPLOYER}:deploy"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def idle_spec(queue: str, **fields: Any) -> dict[str, Any]:
    """A job on a queue no worker consumes, so it stays PENDING as long as a test looks."""
    return {"startUrls": ["https://example.com/"], "queue": queue, **fields}


@pytest.fixture
def client(serve_app: ServeApp) -> httpx.Client:
    return serve_app(api_tokens=TOKENS)


@pytest.fixture
def queue() -> str:
    return f"idle-{uuid.uuid4().hex[:10]}"


def submit(client: httpx.Client, token: str, body: dict[str, Any]) -> str:
    response = client.post("/v1/jobs", json=body, headers=bearer(token))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def listed(client: httpx.Client, token: str, **params: Any) -> list[str]:
    response = client.get("/v1/jobs", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()["jobs"]]


def test_a_job_belongs_to_the_tenant_of_the_token_that_submitted_it(client: httpx.Client, queue: str) -> None:
    job = submit(client, ALPHA, idle_spec(queue))
    assert client.get(f"/v1/jobs/{job}", headers=bearer(ALPHA)).json()["tenant"] == "alpha"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", ""), ("GET", "/items"), ("GET", "/events"), ("DELETE", "")],
)
def test_another_tenants_job_is_a_404(client: httpx.Client, queue: str, method: str, path: str) -> None:
    job = submit(client, ALPHA, idle_spec(queue))
    response = client.request(method, f"/v1/jobs/{job}{path}", headers=bearer(BETA))
    assert response.status_code == 404
    assert response.json() == {"detail": f"no job with id {job!r}"}
    # Nothing happened to it either.
    assert client.get(f"/v1/jobs/{job}", headers=bearer(ALPHA)).json()["state"] == "PENDING"


def test_a_listing_shows_the_callers_jobs_newest_first(client: httpx.Client, queue: str) -> None:
    alpha_jobs = [submit(client, ALPHA, idle_spec(queue)) for _ in range(3)]
    beta_job = submit(client, BETA, idle_spec(queue))
    assert listed(client, ALPHA, queue=queue) == alpha_jobs[::-1]
    assert listed(client, BETA, queue=queue) == [beta_job]
    assert listed(client, BETA, queue=queue, tenant="alpha") == [beta_job], "only an admin may choose the tenant"


def test_an_admin_sees_and_cancels_every_tenants_jobs(client: httpx.Client, queue: str) -> None:
    alpha_job, beta_job = submit(client, ALPHA, idle_spec(queue)), submit(client, BETA, idle_spec(queue))
    assert listed(client, ADMIN, queue=queue) == [beta_job, alpha_job]
    assert listed(client, ADMIN, queue=queue, tenant="alpha") == [alpha_job]
    cancelled = client.delete(f"/v1/jobs/{alpha_job}", headers=bearer(ADMIN))
    assert cancelled.status_code == 202 and cancelled.json()["state"] == "REVOKED"


def test_a_listing_pages_on_with_its_cursor_and_filters(client: httpx.Client, queue: str) -> None:
    jobs = [submit(client, ALPHA, idle_spec(queue, maxPages=index + 1)) for index in range(5)]
    first = client.get("/v1/jobs", params={"queue": queue, "limit": 2}, headers=bearer(ALPHA)).json()
    assert [job["id"] for job in first["jobs"]] == [jobs[4], jobs[3]] and first["hasMore"]
    rest = listed(client, ALPHA, queue=queue, limit=10, cursor=first["nextCursor"])
    assert rest == [jobs[2], jobs[1], jobs[0]]
    client.delete(f"/v1/jobs/{jobs[1]}", headers=bearer(ALPHA))
    assert listed(client, ALPHA, queue=queue, state="REVOKED") == [jobs[1]]
    assert set(listed(client, ALPHA, queue=queue, state=["PENDING", "REVOKED"])) == set(jobs)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert listed(client, ALPHA, queue=queue, since=future) == []


def test_a_token_without_the_submit_role_is_403_before_its_body_is_read(client: httpx.Client) -> None:
    response = client.post(
        "/v1/jobs", content=b"{not json", headers={**bearer(DEPLOYER), "Content-Type": "application/json"}
    )
    assert response.status_code == 403


def test_a_token_without_the_submit_role_cannot_touch_jobs(client: httpx.Client, queue: str) -> None:
    for method, path in (("POST", "/v1/jobs"), ("GET", "/v1/jobs"), ("GET", "/v1/jobs/any")):
        response = client.request(method, path, json=idle_spec(queue), headers=bearer(DEPLOYER))
        assert response.status_code == 403
        assert "'submit' role" in response.json()["detail"]


def test_token_entries_parse_into_tenants_and_roles() -> None:
    assert ApiToken.parse("bare-token-1") == ApiToken("default", "bare-token-1", frozenset({Role.SUBMIT}))
    assert ApiToken.parse("team-a:secret-123") == ApiToken("team-a", "secret-123", frozenset({Role.SUBMIT}))
    assert ApiToken.parse("team-a:secret-123:deploy+submit").roles == {Role.DEPLOY, Role.SUBMIT}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("Team_A:secret-123", "DNS label"),
        ("team-a:short", "shorter than 8"),
        ("team-a:secret-123:owner", "unknown role"),
        ("a:b:c:d", "a token entry is"),
    ],
)
def test_a_bad_token_entry_names_the_setting_and_what_is_wrong(entry: str, message: str) -> None:
    with pytest.raises(ValidationError, match="CRAWLFLEET_API_TOKENS") as caught:
        ApiSettings(api_tokens=entry)
    assert message in str(caught.value)
    assert "secret-123" not in str(caught.value), "a token never appears in an error"


def test_metrics_and_docs_say_nothing_of_any_tenant(client: httpx.Client, queue: str) -> None:
    """They need no token, so they must not tell who uses the platform or what their jobs are."""
    job = submit(client, ALPHA, idle_spec(queue))
    client.get(f"/v1/jobs/{job}", headers=bearer(ALPHA))
    client.get(f"/v1/jobs/{job}", headers=bearer(BETA))
    client.get("/v1/jobs", params={"tenant": "beta"}, headers=bearer(ADMIN))
    for path in ("/metrics", "/openapi.json", "/docs", "/redoc"):
        response = client.get(path)
        assert response.status_code == 200
        for secret in ("alpha", "beta", "ops", ALPHA, BETA, ADMIN, DEPLOYER, job):
            assert secret not in response.text, f"{path} mentions {secret!r}"
