"""Feed exports: a job's `feeds` written by Scrapy's FeedExporter to a real S3 server
(s3proxy) on loopback, by a real worker crawling the local site."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator

import pytest

from crawlfleet_core.model.states import JobState
from crawlfleet_core.service import JobService
from crawlfleet_core.settings import Settings
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import Watch, spec
from tests.harness.s3_server import S3Server
from tests.harness.website import Website

BUCKET = "crawl-feeds"
QUEUE = "feeds"
EXTRACT = {"title": "h1.title::text", "price": "span.price::text"}


@pytest.fixture(scope="module")
def job_service(settings: Settings) -> JobService:
    """The job service of a platform whose submitters offer both buckets; the feeds
    worker offers BUCKET only, as when the two are configured apart."""
    return JobService.from_settings(settings.model_copy(update={"feeds_s3_buckets": [BUCKET, "not-offered"]}))


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.client.create_bucket(Bucket=BUCKET)
    server.client.create_bucket(Bucket="not-offered")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def feeds_worker(
    job_service: JobService, platform_env: dict[str, str], s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    """A worker whose platform offers the bucket BUCKET of the test's S3 server."""
    worker = CeleryWorker(
        job_service.app, platform_env, tmp_path_factory.mktemp("feeds-worker"), queues=QUEUE, extra_env=s3.env(BUCKET)
    )
    yield worker
    worker.stop()


def prefix() -> str:
    return f"jobs/{uuid.uuid4().hex[:10]}"


def stored_items(job_service: JobService, job_id: str) -> list[dict[str, str]]:
    return job_service.store.read_items(job_id, None, 1000).items


def test_a_jobs_items_are_exported_to_s3_as_jsonl_and_csv(
    job_service: JobService, feeds_worker: CeleryWorker, website: Website, s3: S3Server
) -> None:
    folder = prefix()
    feeds = {
        f"s3://{BUCKET}/{folder}/items.jsonl": {"format": "jsonlines"},
        f"s3://{BUCKET}/{folder}/items.csv": {"format": "csv", "fields": ["url", "title"]},
    }
    job_id = job_service.submit(spec(startUrls=[website.url("/page/0")], extract=EXTRACT, queue=QUEUE, feeds=feeds))
    final = Watch(job_service, job_id).finished()
    assert final.state is JobState.SUCCESS, final.error
    assert final.result is not None
    assert (final.result["feeds_stored"], final.result["feeds_failed"]) == (2, 0)
    assert s3.keys(BUCKET, folder) == [f"{folder}/items.csv", f"{folder}/items.jsonl"]

    items = stored_items(job_service, job_id)
    exported = [json.loads(line) for line in s3.read(BUCKET, f"{folder}/items.jsonl").splitlines()]
    assert sorted(exported, key=lambda item: item["url"]) == sorted(items, key=lambda item: item["url"])
    rows = list(csv.DictReader(io.StringIO(s3.read(BUCKET, f"{folder}/items.csv"))))
    assert sorted(rows, key=lambda row: row["url"]) == sorted(
        ({"url": item["url"], "title": item["title"]} for item in items), key=lambda row: row["url"]
    )


def test_a_feed_is_split_into_batches_with_scrapys_placeholders(
    job_service: JobService, feeds_worker: CeleryWorker, website: Website, s3: S3Server
) -> None:
    folder = prefix()
    feeds = {f"s3://{BUCKET}/{folder}/part-%(batch_id)d.jsonl": {"format": "jsonl", "batch_item_count": 5}}
    job_id = job_service.submit(spec(startUrls=[website.url("/page/0")], queue=QUEUE, feeds=feeds))
    assert Watch(job_service, job_id).finished().state is JobState.SUCCESS
    keys = s3.keys(BUCKET, folder)
    assert keys == [f"{folder}/part-{n}.jsonl" for n in (1, 2, 3)]
    assert [len(s3.read(BUCKET, key).splitlines()) for key in keys] == [5, 5, 5]


def test_a_bucket_the_worker_does_not_offer_fails_the_job_before_it_crawls(
    job_service: JobService, feeds_worker: CeleryWorker, website: Website, s3: S3Server
) -> None:
    before = len(website.requests)
    feeds = {"s3://not-offered/stolen.jsonl": {"format": "jsonl"}}
    job_id = job_service.submit(spec(startUrls=[website.url("/page/3")], queue=QUEUE, feeds=feeds))
    final = Watch(job_service, job_id).finished()
    assert final.state is JobState.FAILURE
    assert final.error is not None
    assert (
        "s3://not-offered/stolen.jsonl: bucket 'not-offered' is not one feeds may write to (crawl-feeds)" in final.error
    )
    assert s3.keys("not-offered") == []
    assert website.paths_requested()[before:].count("/page/3") == 0


def test_an_endpoint_the_address_policy_refuses_fails_the_job(
    job_service: JobService, worker_factory: type[CeleryWorker], website: Website, s3: S3Server
) -> None:
    env = {
        **s3.env(BUCKET),
        # The crawl may reach the site on 127.0.0.1, but the store is elsewhere on loopback.
        "CRAWLFLEET_FEEDS_S3_ENDPOINT_URL": "http://127.0.0.2:9",
        "CRAWLFLEET_ALLOWED_NETWORKS": "127.0.0.1/32",
    }
    worker_factory(queues="feeds-guarded", extra_env=env)  # type: ignore[call-arg]
    feeds = {f"s3://{BUCKET}/{prefix()}/items.jsonl": {"format": "jsonl"}}
    job_id = job_service.submit(spec(startUrls=[website.url("/page/4")], queue="feeds-guarded", feeds=feeds))
    final = Watch(job_service, job_id).finished()
    assert final.state is JobState.FAILURE
    assert final.error is not None
    assert "feeds: the S3 endpoint '127.0.0.2'" in final.error
    assert "is not a public address" in final.error


def test_a_failed_upload_is_counted_in_the_result(
    job_service: JobService, worker_factory: type[CeleryWorker], website: Website, s3: S3Server
) -> None:
    env = {**s3.env(BUCKET), "CRAWLFLEET_FEEDS_S3_SECRET_ACCESS_KEY": "not-the-credential"}
    worker_factory(queues="feeds-badkey", extra_env=env)  # type: ignore[call-arg]
    folder = prefix()
    feeds = {f"s3://{BUCKET}/{folder}/items.jsonl": {"format": "jsonl"}}
    job_id = job_service.submit(spec(startUrls=[website.url("/page/5")], maxPages=1, queue="feeds-badkey", feeds=feeds))
    final = Watch(job_service, job_id).finished()
    assert final.state is JobState.SUCCESS
    assert final.result is not None
    assert (final.result["feeds_stored"], final.result["feeds_failed"]) == (0, 1)
    assert s3.keys(BUCKET, folder) == []
