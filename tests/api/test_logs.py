"""GET /v1/jobs/{id}/log: a job's crawl log, read while it runs and followed to its end."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import ServeApp
from tests.api.polling import wait_for_state
from tests.harness.celery_worker import CeleryWorker
from tests.harness.projects import PROJECT
from tests.harness.website import HeldWebsite


@pytest.fixture
def held_site() -> Iterator[HeldWebsite]:
    site = HeldWebsite(held_from=2)
    yield site
    site.stop()


def test_the_log_is_read_while_the_job_runs_and_followed_until_it_ends(
    api: httpx.Client, celery_worker: CeleryWorker, held_site: HeldWebsite, pricewatch_egg: Path
) -> None:
    deployed = api.post(
        f"/v1/projects/{PROJECT}/versions",
        data={"version": "1.0"},
        files={"egg": ("project.egg", pricewatch_egg.read_bytes())},
    )
    assert deployed.status_code == 201, deployed.text
    job = {
        "project": PROJECT,
        "spider": "catalog",
        "spiderArgs": {"url": held_site.url("/slow/0")},
        "settings": {"CLOSESPIDER_PAGECOUNT": 4},
    }
    job_id = api.post("/v1/jobs", json=job).json()["id"]
    wait_for_state(api, job_id, lambda body: body["progress"]["pages"] >= 2, what="two pages crawled")

    deadline = time.monotonic() + 10
    while f"offer page {held_site.url('/slow/1')}: Slow 1" not in (log := api.get(f"/v1/jobs/{job_id}/log")).text:
        assert time.monotonic() < deadline, log.text
        time.sleep(0.1)
    assert log.headers["content-type"] == "text/plain; charset=utf-8"
    assert "[scrapy.core.engine] INFO: Spider opened" in log.text
    assert api.get(f"/v1/jobs/{job_id}").json()["state"] == "PROGRESS"

    followed: list[str] = []

    def follow() -> None:
        with api.stream("GET", f"/v1/jobs/{job_id}/log", params={"follow": "true"}) as stream:
            followed.extend(stream.iter_lines())

    reader = threading.Thread(target=follow)
    reader.start()
    held_site.release()
    reader.join(60)
    assert not reader.is_alive(), "following the log did not end with the job"
    assert api.get(f"/v1/jobs/{job_id}").json()["state"] == "SUCCESS"
    text = "\n".join(followed)
    assert text.index("Spider opened") < text.index("Slow 1") < text.index("Slow 2")
    assert "Spider closed (closespider_pagecount)" in text


def test_another_tenant_s_job_log_is_a_404(serve_app: ServeApp) -> None:
    client = serve_app(api_tokens="alpha:alpha-token-1,beta:beta-token-2")
    job = {"startUrls": ["https://example.com/"], "queue": "nobody-consumes-this"}
    job_id = client.post("/v1/jobs", json=job, headers={"Authorization": "Bearer alpha-token-1"}).json()["id"]
    assert client.get(f"/v1/jobs/{job_id}/log", headers={"Authorization": "Bearer alpha-token-1"}).status_code == 200
    assert client.get(f"/v1/jobs/{job_id}/log", headers={"Authorization": "Bearer beta-token-2"}).status_code == 404
    assert client.get("/v1/jobs/no-such-job/log", headers={"Authorization": "Bearer alpha-token-1"}).status_code == 404
