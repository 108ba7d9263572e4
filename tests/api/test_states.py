"""Every Celery state a job can be in, seen the way a client sees it: through
GET /v1/jobs/{id} of a `crawlfleet-api` process, with real workers and crawls."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import ServeApp
from tests.api.polling import state_is, wait_for_state
from tests.harness.celery_worker import CeleryWorker
from tests.harness.website import Website

IDLE_QUEUE = "nobody-consumes-this"


@pytest.fixture
def jobs(api: httpx.Client) -> Iterator[list[str]]:
    """Ids of jobs a test starts; those still running afterwards are cancelled,
    so that a worker shared by the session is free for the next test."""
    started: list[str] = []
    yield started
    for job_id in started:
        api.delete(f"/v1/jobs/{job_id}")


def submit(api: httpx.Client, jobs: list[str], spec: dict[str, Any]) -> str:
    response = api.post("/v1/jobs", json=spec)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    jobs.append(job_id)
    return job_id


def endless_crawl(website: Website, queue: str = "default") -> dict[str, Any]:
    """A crawl that runs until it is stopped (or for 50 s): each page takes 0.5 s and links to the next."""
    return {
        "startUrls": [website.url("/slow/0")],
        "maxPages": 100,
        "maxDepth": 100,
        "concurrency": 1,
        "queue": queue,
    }


def test_pending_while_no_worker_consumes_the_queue(api: httpx.Client, jobs: list[str]) -> None:
    job_id = submit(api, jobs, {"startUrls": ["https://example.com/"], "queue": IDLE_QUEUE})
    status = api.get(f"/v1/jobs/{job_id}").json()
    assert status["state"] == "PENDING"
    assert status["queue"] == IDLE_QUEUE
    assert status["submittedAt"] is not None
    assert status["receivedAt"] is None and status["startedAt"] is None


def test_received_while_a_worker_holds_the_job_but_runs_another(
    api: httpx.Client, jobs: list[str], worker_factory: Any, website: Website
) -> None:
    """With the platform's prefetch of one task per process and late acks, a
    worker never holds a task it does not run, and RECEIVED lasts only the
    milliseconds between receipt and start. A worker allowed to prefetch two
    (as an operator may configure for short jobs) holds the second job while its
    one process crawls the first: that job is RECEIVED until the first ends."""
    queue = "prefetching"
    worker: CeleryWorker = worker_factory(
        queues=queue, concurrency=1, extra_env={"CELERY_WORKER_PREFETCH_MULTIPLIER": "2"}
    )
    busy = submit(api, jobs, endless_crawl(website, queue))
    wait_for_state(api, busy, state_is("PROGRESS"))
    waiting = submit(api, jobs, {"startUrls": [website.url("/page/11")], "maxPages": 1, "queue": queue})
    received = wait_for_state(api, waiting, state_is("RECEIVED"), timeout=20)
    assert received["receivedAt"] is not None and received["startedAt"] is None
    assert api.get(f"/v1/jobs/{waiting}").json()["state"] == "RECEIVED"
    api.delete(f"/v1/jobs/{busy}")
    assert wait_for_state(api, waiting, state_is("SUCCESS", "FAILURE"))["state"] == "SUCCESS"
    assert worker.process.poll() is None


def test_started_then_progress_while_crawling(
    api: httpx.Client, jobs: list[str], celery_worker: CeleryWorker, website: Website
) -> None:
    job_id = submit(api, jobs, endless_crawl(website))
    started = wait_for_state(api, job_id, state_is("STARTED"), timeout=30)
    assert started["startedAt"] is not None
    assert started["progress"]["pages"] == 0
    progress = wait_for_state(api, job_id, lambda body: body["progress"]["pages"] >= 2, what="two pages crawled")
    assert progress["state"] == "PROGRESS"
    assert 0 < progress["progress"]["percent"] < 100
    assert progress["finishedAt"] is None and progress["result"] is None
    items = api.get(f"/v1/jobs/{job_id}/items").json()["items"]
    assert [item["url"] for item in items[:2]] == [website.url("/slow/0"), website.url("/slow/1")]


def test_success_with_the_crawl_stats(
    api: httpx.Client, jobs: list[str], celery_worker: CeleryWorker, website: Website
) -> None:
    job_id = submit(api, jobs, {"startUrls": [website.url("/page/3")], "extract": {"title": "h1.title"}})
    status = wait_for_state(api, job_id, state_is("SUCCESS", "FAILURE", "REVOKED"))
    assert status["state"] == "SUCCESS"
    # /page/3 links to 7 and 8, which are leaves of the 15-page tree.
    assert status["result"]["pages"] == status["result"]["item_scraped_count"] == 3
    assert status["result"]["finish_reason"] == "finished"
    assert status["result"]["duration_seconds"] > 0
    assert status["finishedAt"] is not None and status["error"] is None


def test_failure_when_every_start_url_is_refused(
    api: httpx.Client, jobs: list[str], celery_worker: CeleryWorker
) -> None:
    job_id = submit(api, jobs, {"startUrls": ["http://10.255.255.1/"]})
    status = wait_for_state(api, job_id, state_is("SUCCESS", "FAILURE", "REVOKED"))
    assert status["state"] == "FAILURE"
    assert status["error"].startswith("CrawlFailedError: ")
    assert "10.255.255.1 is not a public address" in status["error"]
    assert status["result"] is None and status["finishedAt"] is not None


def test_retry_after_the_crawl_process_is_killed_then_running_again(
    api: httpx.Client, jobs: list[str], worker_factory: Any, website: Website
) -> None:
    queue = "crashing"
    worker: CeleryWorker = worker_factory(queues=queue, concurrency=1)
    job_id = submit(api, jobs, endless_crawl(website, queue))
    wait_for_state(api, job_id, state_is("PROGRESS"))
    [crawl] = worker.crawl_processes()
    os.kill(crawl.pid, signal.SIGKILL)
    retrying = wait_for_state(api, job_id, state_is("RETRY"), timeout=20)
    assert retrying["error"].startswith("CrawlCrashedError: ")
    assert "SIGKILL" in retrying["error"]
    # After the backoff the same job crawls again, in a new process.
    wait_for_state(api, job_id, state_is("PROGRESS"), timeout=30)
    assert [process.pid for process in worker.crawl_processes()] != [crawl.pid]


def test_revoked_when_cancelled_while_queued(api: httpx.Client, jobs: list[str]) -> None:
    job_id = submit(api, jobs, {"startUrls": ["https://example.com/"], "queue": IDLE_QUEUE})
    cancelled = api.delete(f"/v1/jobs/{job_id}")
    assert cancelled.status_code == 202
    status = api.get(f"/v1/jobs/{job_id}").json()
    assert status["state"] == "REVOKED"
    assert status["error"] == "cancelled"
    assert status["finishedAt"] is not None


def test_revoked_when_cancelled_while_running(
    api: httpx.Client, jobs: list[str], celery_worker: CeleryWorker, website: Website
) -> None:
    job_id = submit(api, jobs, endless_crawl(website))
    wait_for_state(api, job_id, state_is("PROGRESS"))
    assert api.delete(f"/v1/jobs/{job_id}").json()["state"] == "REVOKED"
    assert wait_for_state(api, job_id, state_is("REVOKED"))["finishedAt"] is not None
    assert api.get(f"/v1/jobs/{job_id}").json()["state"] == "REVOKED"


def test_every_api_replica_tells_the_same_state(api: httpx.Client, serve_app: ServeApp, jobs: list[str]) -> None:
    """State lives in Redis alone, so a job submitted through one replica is followed through another."""
    other_replica = serve_app()
    job_id = submit(other_replica, jobs, {"startUrls": ["https://example.com/"], "queue": IDLE_QUEUE})
    assert api.get(f"/v1/jobs/{job_id}").json()["state"] == "PENDING"
    assert api.delete(f"/v1/jobs/{job_id}").status_code == 202
    assert other_replica.get(f"/v1/jobs/{job_id}").json()["state"] == "REVOKED"
