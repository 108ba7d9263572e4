"""A job for a queue nobody serves is refused, naming the queues that are served;
metrics get one series per known queue, never one per made-up name."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.api.conftest import ServeApp
from tests.harness.celery_worker import CeleryWorker
from tests.harness.ports import wait_until
from tests.harness.website import Website


def fresh_queue() -> str:
    return f"q-{uuid.uuid4().hex[:10]}"


def spec(queue: str, url: str = "https://example.com/") -> dict[str, object]:
    return {"startUrls": [url], "maxPages": 1, "queue": queue}


@pytest.fixture
def strict(serve_app: ServeApp) -> Callable[..., httpx.Client]:
    """An app that allows no queue beyond those served (the test platform allows any)."""
    return lambda **settings: serve_app(**{"extra_queues": "", **settings})


def test_a_queue_nobody_serves_is_422_listing_the_known_queues(strict: Callable[..., httpx.Client]) -> None:
    default = fresh_queue()
    client = strict(default_queue=default)
    made_up = fresh_queue()
    response = client.post("/v1/jobs", json=spec(made_up))
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "queue"]
    assert error["type"] == "queue_unknown"
    assert f"no worker pool serves queue {made_up!r}" in error["msg"]
    assert default in error["ctx"]["known"]
    assert made_up not in error["ctx"]["known"]
    assert "CRAWLFLEET_EXTRA_QUEUES" in error["msg"]


def test_the_default_queue_is_always_known(strict: Callable[..., httpx.Client]) -> None:
    default = fresh_queue()  # nothing serves it, and no worker will take the job
    assert strict(default_queue=default).post("/v1/jobs", json=spec(default)).status_code == 202


def test_a_queue_a_live_worker_consumes_is_accepted_at_once(
    strict: Callable[..., httpx.Client], worker_factory: Callable[..., CeleryWorker], website: Website
) -> None:
    queue = fresh_queue()
    client = strict()
    assert client.post("/v1/jobs", json=spec(queue)).status_code == 422
    worker_factory(queues=f"{queue},{fresh_queue()}", concurrency=1)
    accepted = client.post("/v1/jobs", json=spec(queue, website.url("/page/3")))
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    wait_until(lambda: client.get(f"/v1/jobs/{job_id}").json()["state"] == "SUCCESS", 60, "the job to run")


def test_an_operator_may_allow_queues_by_name_or_pattern(strict: Callable[..., httpx.Client]) -> None:
    client = strict(extra_queues="batch-*,night")
    assert client.post("/v1/jobs", json=spec(f"batch-{uuid.uuid4().hex[:6]}")).status_code == 202
    assert client.post("/v1/jobs", json=spec("night")).status_code == 202
    assert client.post("/v1/jobs", json=spec("nightly")).status_code == 422


def submission_series(client: httpx.Client) -> list[str]:
    return [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("crawlfleet_api_job_submissions_total")
    ]


def test_made_up_queue_names_add_no_metric_series(strict: Callable[..., httpx.Client]) -> None:
    refusing = strict()
    for _ in range(200):
        refusing.post("/v1/jobs", json=spec(fresh_queue()))
    assert submission_series(refusing) == [
        'crawlfleet_api_job_submissions_total{outcome="refused",queue="other"} 200.0'
    ]
    # Allowed by a pattern, they are still counted under one label.
    allowing = strict(extra_queues="q-*")
    for _ in range(20):
        assert allowing.post("/v1/jobs", json=spec(fresh_queue())).status_code == 202
    assert submission_series(allowing) == [
        'crawlfleet_api_job_submissions_total{outcome="accepted",queue="other"} 20.0'
    ]
