"""The job path through the API: a `crawlfleet-api` process, a real Celery
worker and real crawls of the local website."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import redis

from tests.api.conftest import ServeApp
from tests.api.polling import FINISHED, state_is, wait_for_state
from tests.harness.celery_worker import CeleryWorker
from tests.harness.redis_server import RedisServer
from tests.harness.website import Website

EXTRACT = {"title": "h1.title::text", "price": "span.price::text"}


def submit(api: httpx.Client, spec: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = api.post("/v1/jobs", json=spec, headers=headers)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def all_items(api: httpx.Client, job_id: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every item of the job, following nextCursor; and how many pages that took."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = api.get(f"/v1/jobs/{job_id}/items", params=params)
        assert response.status_code == 200, response.text
        pages += 1
        items += response.json()["items"]
        cursor = response.json()["nextCursor"]
        if not response.json()["hasMore"]:
            return items, pages


def test_a_crawl_from_submission_to_items(api: httpx.Client, celery_worker: CeleryWorker, website: Website) -> None:
    response = api.post("/v1/jobs", json={"startUrls": [website.url("/page/0")], "extract": EXTRACT})
    assert response.status_code == 202, response.text
    accepted = response.json()
    job_id = accepted["id"]
    assert accepted["state"] in ("PENDING", "RECEIVED", "STARTED", "PROGRESS")
    assert accepted["links"] == {
        "self": f"/v1/jobs/{job_id}",
        "items": f"/v1/jobs/{job_id}/items",
        "events": f"/v1/jobs/{job_id}/events",
    }
    assert response.headers["Location"] == f"/v1/jobs/{job_id}"

    final = wait_for_state(api, job_id, state_is(*FINISHED), what="a finished state")
    assert final["state"] == "SUCCESS", final["error"]
    assert final["progress"] == {"pages": 15, "items": 15, "errors": 0, "percent": 100.0}
    assert final["result"]["finish_reason"] == "finished"
    assert final["result"]["item_scraped_count"] == 15
    assert final["error"] is None
    assert final["queue"] == "default"
    moments = [datetime.fromisoformat(final[name]) for name in ("submittedAt", "receivedAt", "startedAt", "finishedAt")]
    assert moments == sorted(moments)

    items, pages = all_items(api, job_id, limit=4)
    assert pages == 4
    assert sorted(item["url"] for item in items) == sorted(website.url(f"/page/{i}") for i in range(15))
    for item in items:
        index = int(item["url"].rsplit("/", 1)[1])
        assert item == {"url": item["url"], "title": f"Page {index}", "price": str(index * 10)}


def test_the_same_idempotency_key_and_spec_give_the_same_job_and_one_crawl(
    api: httpx.Client, celery_worker: CeleryWorker, website: Website
) -> None:
    spec = {"startUrls": [website.url("/page/14")], "maxPages": 1}
    before = website.paths_requested().count("/page/14")
    first = submit(api, spec, **{"Idempotency-Key": "checkout-42"})
    again = submit(api, {**spec, "maxDepth": 3}, **{"Idempotency-Key": "checkout-42"})  # 3 is the default
    other = submit(api, spec, **{"Idempotency-Key": "checkout-43"})
    assert first["id"] == again["id"] != other["id"]
    for job_id in (first["id"], other["id"]):
        assert wait_for_state(api, job_id, state_is(*FINISHED))["state"] == "SUCCESS"
    # A second publication of the first job would crawl the page a third time.
    time.sleep(2)
    assert website.paths_requested().count("/page/14") - before == 2
    assert submit(api, spec, **{"Idempotency-Key": "checkout-42"})["state"] == "SUCCESS"


def events(api: httpx.Client, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, data) of each Server-Sent Event until the server ends the stream."""
    with api.stream("GET", f"/v1/jobs/{job_id}/events", timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name, data = "message", ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data += line.removeprefix("data:").strip()
            elif line == "" and data:
                yield name, json.loads(data)
                name, data = "message", ""


def test_the_event_stream_follows_progress_until_the_job_finishes(
    api: httpx.Client, celery_worker: CeleryWorker, website: Website
) -> None:
    job_id = submit(api, {"startUrls": [website.url("/slow/0")], "maxPages": 4, "concurrency": 1})["id"]
    received = list(events(api, job_id))
    assert {name for name, _ in received} == {"status"}
    statuses = [data for _, data in received]
    assert all(status["id"] == job_id for status in statuses)
    assert statuses[-1]["state"] == "SUCCESS"
    assert statuses[-1]["progress"]["pages"] == 4
    assert "PROGRESS" in [status["state"] for status in statuses]
    pages = [status["progress"]["pages"] for status in statuses]
    assert pages == sorted(pages)
    assert any(0 < count < 4 for count in pages), pages
    # Each event is a change: no status is sent twice in a row.
    assert all(a != b for a, b in itertools.pairwise(statuses))


def test_the_event_stream_of_a_finished_job_is_its_final_status(
    api: httpx.Client, celery_worker: CeleryWorker, website: Website
) -> None:
    job_id = submit(api, {"startUrls": [website.url("/page/13")], "maxPages": 1})["id"]
    final = wait_for_state(api, job_id, state_is(*FINISHED))
    assert list(events(api, job_id)) == [("status", final)]


def test_cancelling_a_running_crawl_stops_it(api: httpx.Client, celery_worker: CeleryWorker, website: Website) -> None:
    endless = {"startUrls": [website.url("/slow/0")], "maxPages": 100, "maxDepth": 100, "concurrency": 1}
    job_id = submit(api, endless)["id"]
    wait_for_state(api, job_id, lambda body: body["progress"]["pages"] >= 1, what="a page crawled")
    response = api.delete(f"/v1/jobs/{job_id}")
    assert response.status_code == 202
    assert response.json()["state"] == "REVOKED"
    assert response.json()["error"] == "cancelled"
    time.sleep(1.5)  # a request already sent when the crawl was killed may still arrive
    requests_after_cancel = len(website.requests)
    time.sleep(2)
    assert len(website.requests) == requests_after_cancel, "the cancelled crawl is still fetching"
    status = api.get(f"/v1/jobs/{job_id}").json()
    assert status["state"] == "REVOKED"
    assert status["finishedAt"] is not None
    again = api.delete(f"/v1/jobs/{job_id}")
    assert again.status_code == 202
    assert again.json()["state"] == "REVOKED"


def test_cancelling_a_finished_job_is_409(api: httpx.Client, celery_worker: CeleryWorker, website: Website) -> None:
    job_id = submit(api, {"startUrls": [website.url("/page/12")], "maxPages": 1})["id"]
    assert wait_for_state(api, job_id, state_is(*FINISHED))["state"] == "SUCCESS"
    response = api.delete(f"/v1/jobs/{job_id}")
    assert response.status_code == 409
    assert "already finished with SUCCESS" in response.json()["detail"]
    assert api.get(f"/v1/jobs/{job_id}").json()["state"] == "SUCCESS"


def job_records(redis_server: RedisServer) -> list[str]:
    client: redis.Redis = redis_server.client(2)
    return sorted(client.scan_iter("crawlfleet:job:*"))


def test_an_unreachable_broker_is_503_and_leaves_nothing_behind(
    api: httpx.Client, serve_app: ServeApp, redis_server: RedisServer, dead_redis_url: str
) -> None:
    no_broker = serve_app(broker_url=dead_redis_url)
    spec = {"startUrls": ["https://example.com/"], "queue": "nobody-consumes-this"}
    records_before = job_records(redis_server)
    response = no_broker.post("/v1/jobs", json=spec, headers={"Idempotency-Key": "during-the-outage"})
    assert response.status_code == 503
    assert "unreachable" in response.json()["detail"]
    assert response.headers["Retry-After"] == "5"
    assert job_records(redis_server) == records_before
    # The key was not kept either: once Redis is back, a corrected retry is accepted.
    retried = api.post("/v1/jobs", json={**spec, "maxPages": 5}, headers={"Idempotency-Key": "during-the-outage"})
    assert retried.status_code == 202


def test_an_unreachable_job_store_is_503_on_every_job_route(serve_app: ServeApp, dead_redis_url: str) -> None:
    client = serve_app(job_store_url=dead_redis_url)
    spec = {"startUrls": ["https://example.com/"]}
    responses = [
        client.post("/v1/jobs", json=spec),
        client.post("/v1/jobs", json=spec, headers={"Idempotency-Key": "k"}),
        client.get("/v1/jobs/some-id"),
        client.get("/v1/jobs/some-id/items"),
        client.get("/v1/jobs/some-id/events"),
        client.delete("/v1/jobs/some-id"),
    ]
    assert [response.status_code for response in responses] == [503] * len(responses)
    assert all("unreachable" in response.json()["detail"] for response in responses)


def test_items_of_a_running_job_are_read_on_from_the_last_cursor(
    api: httpx.Client, celery_worker: CeleryWorker, website: Website
) -> None:
    """A client following a live crawl keeps its place: no item twice, none lost."""
    spec = {"startUrls": [website.url("/slow/0")], "maxDepth": 100, "maxPages": 5, "concurrency": 1, "extract": EXTRACT}
    job_id = submit(api, spec)["id"]
    wait_for_state(api, job_id, lambda body: body["progress"]["items"] >= 1, 30, "a first item")
    first = api.get(f"/v1/jobs/{job_id}/items").json()
    assert first["items"] and first["nextCursor"] is not None
    wait_for_state(api, job_id, state_is(*FINISHED), 30, "the end")
    rest = api.get(f"/v1/jobs/{job_id}/items", params={"cursor": first["nextCursor"]}).json()
    urls = [item["url"] for item in first["items"] + rest["items"]]
    assert sorted(urls) == sorted(website.url(f"/slow/{i}") for i in range(5))
    assert rest["hasMore"] is False
    after = api.get(f"/v1/jobs/{job_id}/items", params={"cursor": rest["nextCursor"]}).json()
    assert after == {"items": [], "nextCursor": rest["nextCursor"], "hasMore": False}
