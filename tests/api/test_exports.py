"""Item downloads: /v1/jobs/{id}/items.jsonl and .csv."""

from __future__ import annotations

import csv
import io
import json
import threading
import uuid
from typing import Any

import httpx
import psutil
import pytest

from crawlfleet_api.exports import csv_chunks, download_name
from crawlfleet_core.service import JobService
from tests.api.conftest import ApiProcess, ServeApp
from tests.api.polling import state_is, wait_for_state
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import spec
from tests.harness.website import Website

EXTRACT = {"title": "h1.title::text", "price": "span.price::text"}
LARGE_JOB_ITEMS = 100_000
# Each item carries this much text, so the whole export is about 50 MB: buffering it
# would grow the server by several times that, streaming by one batch.
ITEM_TEXT = 480
RSS_GROWTH_BOUND = 40 * 1024 * 1024


def stored_job(service: JobService, items: list[dict[str, Any]], tenant: str = "default") -> str:
    """A job record with these items in its stream, as a worker would have stored them."""
    job_id = f"export-{uuid.uuid4().hex[:12]}"
    job_spec = spec(startUrls=["https://example.com/"], queue="nobody-runs-this")
    service.store.create(job_id, job_spec, "api", "test-submitter", 30, tenant)
    service.store.published(job_id)
    keyed = [(f"item-{index}", item) for index, item in enumerate(items)]
    for start in range(0, len(keyed), 5000):
        service.store.append_items(job_id, keyed[start : start + 5000])
    return job_id


def test_a_crawls_items_download_as_jsonl_and_csv(
    api: httpx.Client, celery_worker: CeleryWorker, website: Website
) -> None:
    response = api.post("/v1/jobs", json={"startUrls": [website.url("/page/0")], "extract": EXTRACT})
    job_id = response.json()["id"]
    wait_for_state(api, job_id, state_is("SUCCESS"), what="SUCCESS")
    paged = api.get(f"/v1/jobs/{job_id}/items", params={"limit": 1000}).json()["items"]

    jsonl = api.get(f"/v1/jobs/{job_id}/items.jsonl")
    assert jsonl.status_code == 200
    assert jsonl.headers["content-type"] == "application/x-ndjson"
    assert jsonl.headers["content-disposition"] == f'attachment; filename="{job_id}-items.jsonl"'
    assert [json.loads(line) for line in jsonl.text.splitlines()] == paged
    assert len(paged) == 15

    exported = api.get(f"/v1/jobs/{job_id}/items.csv")
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert exported.headers["content-disposition"] == f'attachment; filename="{job_id}-items.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert list(rows[0]) == ["url", "title", "price"]
    assert rows == [{name: str(value) for name, value in item.items()} for item in paged]


def test_csv_columns_are_every_field_seen_and_lists_are_json(api: httpx.Client, job_service: JobService) -> None:
    job_id = stored_job(
        job_service,
        [
            {"url": "https://a.example/", "title": "A, with a comma"},
            {"price": 3, "url": "https://b.example/", "tags": ["x", "y"]},
            {"url": "https://c.example/", "title": None, "meta": {"k": "v"}},
        ],
    )
    rows = list(csv.reader(io.StringIO(api.get(f"/v1/jobs/{job_id}/items.csv").text)))
    assert rows == [
        ["url", "title", "price", "tags", "meta"],
        ["https://a.example/", "A, with a comma", "", "", ""],
        ["https://b.example/", "", "3", '["x", "y"]', ""],
        ["https://c.example/", "", "", "", '{"k": "v"}'],
    ]


def test_a_job_without_items_downloads_as_empty_files(api: httpx.Client, job_service: JobService) -> None:
    job_id = stored_job(job_service, [])
    assert api.get(f"/v1/jobs/{job_id}/items.jsonl").text == ""
    assert api.get(f"/v1/jobs/{job_id}/items.csv").text == "\r\n"


def test_an_unknown_job_is_a_404(api: httpx.Client) -> None:
    for extension in ("jsonl", "csv"):
        response = api.get(f"/v1/jobs/no-such-job/items.{extension}")
        assert response.status_code == 404
        assert response.json() == {"detail": "no job with id 'no-such-job'"}


def test_another_tenants_job_is_a_404_and_its_own_tenant_downloads_it(
    serve_app: ServeApp, job_service: JobService
) -> None:
    client = serve_app(api_tokens="alpha:alpha-secret-1,beta:beta-secret-22")
    job_id = stored_job(job_service, [{"url": "https://a.example/"}], tenant="alpha")
    for extension in ("jsonl", "csv"):
        path = f"/v1/jobs/{job_id}/items.{extension}"
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer beta-secret-22"}).status_code == 404
        own = client.get(path, headers={"Authorization": "Bearer alpha-secret-1"})
        assert own.status_code == 200
        assert "https://a.example/" in own.text


def test_a_file_name_keeps_only_safe_characters() -> None:
    assert download_name('a"b/c\\d;e f', "csv") == "a_b_c_d_e_f-items.csv"


def test_csv_header_pass_reads_field_names_only_from_every_batch() -> None:
    batches = [[{"url": "u1", "a": 1}], [{"url": "u2", "b": 2}]]
    text = "".join(csv_chunks(lambda: iter(batches)))
    assert text.splitlines()[0] == "url,a,b"


class PeakRss:
    """Samples a process's resident memory until stopped; the highest sample."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return self.peak


@pytest.mark.parametrize("extension", ["jsonl", "csv"])
def test_100k_items_stream_in_bounded_memory(
    api_process: ApiProcess, api: httpx.Client, job_service: JobService, extension: str
) -> None:
    items = [{"url": f"https://example.com/{i}", "text": f"{i:08d}" + "x" * ITEM_TEXT} for i in range(LARGE_JOB_ITEMS)]
    job_id = stored_job(job_service, items)
    del items
    # Warm up: the first export loads what any export needs.
    api.get(f"/v1/jobs/{stored_job(job_service, [{'url': 'u'}])}/items.{extension}")
    server = psutil.Process(api_process.process.pid)
    baseline = server.memory_info().rss
    sampler = PeakRss(server.pid)
    lines = 0
    size = 0
    last = ""
    with api.stream("GET", f"/v1/jobs/{job_id}/items.{extension}") as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            lines += 1
            size += len(line)
            last = line
    growth = sampler.stop() - baseline
    assert lines == LARGE_JOB_ITEMS + (extension == "csv")
    assert size > LARGE_JOB_ITEMS * ITEM_TEXT
    assert f"{LARGE_JOB_ITEMS - 1:08d}" in last
    assert growth < RSS_GROWTH_BOUND, f"the API grew by {growth / 2**20:.0f} MiB streaming {size / 2**20:.0f} MiB"
