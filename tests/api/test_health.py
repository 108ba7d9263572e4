"""Probes, docs, metrics and the `crawlfleet-api` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.api.conftest import ServeApp

IDLE_QUEUE = "nobody-consumes-this"


def test_healthz_answers_ok(local_api: httpx.Client) -> None:
    response = local_api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_every_redis_database_answers(local_api: httpx.Client) -> None:
    response = local_api.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"broker": "ok", "resultBackend": "ok", "jobStore": "ok"},
    }


def test_readyz_is_503_naming_the_database_it_cannot_reach(serve_app: ServeApp, dead_redis_url: str) -> None:
    client = serve_app(job_store_url=dead_redis_url.replace("redis://", "redis://:s3cret-password@"))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"] == body["checks"]["resultBackend"] == "ok"
    assert body["checks"]["jobStore"] == "unreachable (ConnectionError)"
    # Open to anyone: it tells neither where Redis is nor how to log in to it.
    host_and_port = dead_redis_url.removeprefix("redis://").removesuffix("/0")
    for secret in ("127.0.0.1", host_and_port.split(":")[1], "s3cret-password", "redis://"):
        assert secret not in response.text
    # Liveness does not depend on Redis: a Redis outage must not restart the API.
    assert client.get("/healthz").status_code == 200


def test_readyz_is_503_when_redis_is_down_entirely(serve_app: ServeApp, dead_redis_url: str) -> None:
    client = serve_app(broker_url=dead_redis_url, result_backend=dead_redis_url, job_store_url=dead_redis_url)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert all(check != "ok" for check in response.json()["checks"].values())


def test_docs_serve_the_openapi_document_with_the_job_schema(local_api: httpx.Client) -> None:
    assert "swagger-ui" in local_api.get("/docs").text
    document = local_api.get("/openapi.json").json()
    assert set(document["paths"]) >= {
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/events",
        "/v1/jobs/{job_id}/items",
        "/healthz",
        "/readyz",
    }
    spec_schema = document["components"]["schemas"]["JobSpec"]
    assert {"startUrls", "maxPages", "maxDepth", "extract", "obeyRobotsTxt"} <= set(spec_schema["properties"])
    assert spec_schema["additionalProperties"] is False
    assert document["paths"]["/v1/jobs"]["post"]["responses"].keys() >= {"202", "409", "413", "422", "503"}


def test_metrics_count_requests_by_route_and_submissions_by_queue(serve_app: ServeApp) -> None:
    local_api = serve_app(extra_queues=IDLE_QUEUE)
    local_api.get("/healthz")
    local_api.get("/v1/jobs/no-such-job")
    local_api.post("/v1/jobs", json={"startUrls": ["https://example.com/"], "queue": IDLE_QUEUE})
    local_api.get("/no/such/route")
    response = local_api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'crawlfleet_api_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'crawlfleet_api_requests_total{method="GET",route="/v1/jobs/{job_id}",status="404"}' in text
    assert 'crawlfleet_api_requests_total{method="GET",route="unmatched",status="404"}' in text
    assert f'crawlfleet_api_job_submissions_total{{outcome="accepted",queue="{IDLE_QUEUE}"}} 1.0' in text
    assert 'crawlfleet_api_request_duration_seconds_count{method="POST",route="/v1/jobs"}' in text


def test_the_command_documents_its_options() -> None:
    command = Path(sys.executable).parent / "crawlfleet-api"
    result = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=60, check=True)
    for option in ("--host", "--port", "--reload", "127.0.0.1", "8000"):
        assert option in result.stdout
