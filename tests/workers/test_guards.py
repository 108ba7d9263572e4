"""A crawl reaches only public addresses and http(s), unless an operator allows a network."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from crawlfleet_core.model.states import JobState
from crawlfleet_core.service import JobService
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import Watch, spec
from tests.harness.website import Website


@pytest.fixture
def guarded_worker(worker_factory: type[CeleryWorker]) -> CeleryWorker:
    """A worker with the default settings: no private network allowed."""
    return worker_factory(queues="guarded", concurrency=1, extra_env={"CRAWLFLEET_ALLOWED_NETWORKS": ""})


@pytest.mark.parametrize(
    ("host", "reason"),
    [("127.0.0.1", "127.0.0.1 is not a public address"), ("localhost", "localhost resolves to 127.0.0.1")],
)
def test_loopback_is_refused_by_default(
    job_service: JobService, guarded_worker: CeleryWorker, own_website: Website, host: str, reason: str
) -> None:
    before = len(own_website.requests)
    url = f"http://{host}:{own_website.port}/page/0"
    watch = Watch(job_service, job_service.submit(spec(startUrls=[url], queue="guarded", retries=0)))
    final = watch.finished(30)
    assert final.state is JobState.FAILURE
    assert final.error is not None and reason in final.error and "CRAWLFLEET_ALLOWED_NETWORKS" in final.error
    assert len(own_website.requests) == before, "the refused crawl reached the site"


def test_a_redirect_to_a_private_address_is_refused(
    job_service: JobService, celery_worker: CeleryWorker, website: Website
) -> None:
    """Loopback is allowed on this worker, so the redirect is fetched; its target is not."""
    target = website.url("/redirect?to=" + quote("http://169.254.169.254/latest/meta-data/", safe=""))
    job = spec(startUrls=[target], allowedDomains=["127.0.0.1", "169.254.169.254"], retries=0)
    watch = Watch(job_service, job_service.submit(job))
    final = watch.finished(30)
    assert final.state is JobState.FAILURE
    assert final.error is not None and "169.254.169.254 is not a public address" in final.error


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "data:text/html,<h1 class=title>x</h1>", "ftp://127.0.0.1/", "s3://bucket/key"]
)
def test_redirects_to_other_schemes_fetch_nothing(
    job_service: JobService, celery_worker: CeleryWorker, website: Website, target: str
) -> None:
    start = website.url("/redirect?to=" + quote(target, safe=""))
    job = spec(startUrls=[start], extract={"title": "h1.title::text", "body": "xpath://body//text()"}, retries=0)
    watch = Watch(job_service, job_service.submit(job))
    final = watch.finished(30)
    items = job_service.store.read_items(watch.job_id, None, 10).items
    assert items == []
    assert final.state is JobState.FAILURE
    assert final.progress.pages == 0
    assert final.error is not None and "no page was fetched" in final.error
    assert "root:" not in str(final.model_dump())
