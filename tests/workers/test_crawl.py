"""Crawls of a real local website by a real Celery worker."""

from __future__ import annotations

import itertools
from typing import Any

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.states import JobState
from crawlfleet_core.service import JobService
from crawlfleet_core.store.logs import JobLogs
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import Watch, spec
from tests.harness.website import HeldWebsite, Website

EXTRACT = {"title": "h1.title::text", "price": "xpath://span[@class='price']/text()"}


def run(job_service: JobService, job: JobSpec, timeout: float = 60) -> Watch:
    watch = Watch(job_service, job_service.submit(job))
    watch.finished(timeout)
    return watch


def test_crawl_of_the_site_gives_exact_pages_and_items(
    job_service: JobService, celery_worker: CeleryWorker, website: Website
) -> None:
    watch = run(job_service, spec(startUrls=[website.url("/page/0")], extract=EXTRACT))
    status = watch.last
    assert status is not None
    assert status.state is JobState.SUCCESS, status.error
    assert status.result is not None
    assert status.result["finish_reason"] == "finished"
    assert status.result["pages"] == website.size == 15
    assert status.result["item_scraped_count"] == 15
    assert status.result["errors"] == 0
    assert status.progress.pages == 15 and status.progress.items == 15 and status.progress.percent == 100.0
    assert status.started_at is not None and status.finished_at is not None
    page = job_service.store.read_items(watch.job_id, None, 100)
    assert not page.has_more
    items = page.items
    by_url = {item["url"]: item for item in items}
    assert len(by_url) == 15
    assert by_url[website.url("/page/7")] == {"url": website.url("/page/7"), "title": "Page 7", "price": "70"}


def test_robots_txt_is_obeyed_by_default_and_offsite_links_are_not_followed(
    job_service: JobService, celery_worker: CeleryWorker, own_website: Website
) -> None:
    before = len(own_website.requests)
    run(job_service, spec(startUrls=[own_website.url("/page/0")], maxDepth=1))
    paths = own_website.paths_requested()[before:]
    assert "/robots.txt" in paths
    assert "/private/secret" not in paths

    before = len(own_website.requests)
    watch = run(job_service, spec(startUrls=[own_website.url("/page/0")], maxDepth=1, obeyRobotsTxt=False))
    paths = own_website.paths_requested()[before:]
    assert "/private/secret" in paths and "/robots.txt" not in paths
    assert watch.last is not None and watch.last.result is not None
    assert watch.last.result["pages"] == 4  # page 0, its two children, and /private/secret


def test_max_pages_keeps_the_pages_nearest_the_start(
    job_service: JobService, celery_worker: CeleryWorker, website: Website
) -> None:
    watch = run(job_service, spec(startUrls=[website.url("/page/0")], maxPages=5, concurrency=1))
    assert watch.last is not None and watch.last.result is not None
    assert watch.last.result["pages"] == 5
    items = job_service.store.read_items(watch.job_id, None, 100).items
    assert sorted(item["url"] for item in items) == sorted(website.url(f"/page/{i}") for i in range(5))


def test_max_depth_and_follow_links_bound_the_crawl(
    job_service: JobService, celery_worker: CeleryWorker, website: Website
) -> None:
    for depth in (0, 1, 2):
        watch = run(job_service, spec(startUrls=[website.url("/page/0")], maxDepth=depth))
        assert watch.last is not None and watch.last.result is not None
        assert watch.last.result["pages"] == website.pages_within_depth(depth), depth
    watch = run(
        job_service,
        spec(startUrls=[website.url("/page/0"), website.url("/page/5")], followLinks=False),
    )
    assert watch.last is not None and watch.last.result is not None
    assert watch.last.result["pages"] == 2


def test_two_crawls_in_a_row_on_one_worker_process(
    job_service: JobService, worker_factory: type[CeleryWorker], website: Website
) -> None:
    """The second crawl in the same pool process needs a fresh reactor."""
    worker_factory(queues="single", concurrency=1)
    for _ in range(3):
        watch = run(job_service, spec(startUrls=[website.url("/page/0")], queue="single"))
        assert watch.last is not None
        assert watch.last.state is JobState.SUCCESS, watch.last.error
        assert watch.last.progress.pages == 15


def test_a_crawl_past_its_time_limit_ends_cleanly_with_what_it_got(
    job_service: JobService, celery_worker: CeleryWorker, website: Website
) -> None:
    job = spec(startUrls=[website.url("/slow/0")], maxDepth=100, maxPages=1000, timeLimitSeconds=2)
    watch = run(job_service, job, timeout=30)
    status = watch.last
    assert status is not None and status.result is not None
    assert status.state is JobState.SUCCESS
    assert status.result["finish_reason"] == "closespider_timeout"
    assert 1 <= status.result["pages"] < 10
    items = job_service.store.read_items(watch.job_id, None, 100).items
    assert len(items) == status.result["items"] >= 1


def test_progress_is_published_while_the_crawl_runs(
    job_service: JobService, celery_worker: CeleryWorker, held_website: HeldWebsite
) -> None:
    """The site holds the crawl after two pages, so it cannot end before the test sees it run."""
    job = spec(startUrls=[held_website.url("/slow/0")], maxDepth=100, maxPages=6, concurrency=1)
    watch = Watch(job_service, job_service.submit(job))
    running = watch.until(lambda s: s.state is JobState.PROGRESS and s.progress.pages >= 2, 30, "PROGRESS")
    assert 0 < running.progress.percent < 100
    assert running.progress.items >= 1
    held_website.release()
    final = watch.finished(30)
    assert final.state is JobState.SUCCESS
    assert final.progress.pages == 6
    assert JobState.STARTED in watch.states or JobState.PROGRESS in watch.states


def test_example_sleep_task_reports_progress_each_second(job_service: JobService, celery_worker: CeleryWorker) -> None:
    """The result backend publishes every state it stores to the task's subscribers, and
    sending the task subscribes, so each PROGRESS arrives however slowly this test runs."""
    seen = []
    result = job_service.app.send_task("crawlfleet.sleep", kwargs={"seconds": 2})

    def on_message(meta: dict[str, Any]) -> None:
        # The process's one result consumer also hands over messages of other tasks it follows.
        if meta["task_id"] == result.id and meta["status"] == JobState.PROGRESS:
            seen.append(meta["result"]["elapsed"])

    result.get(timeout=30, on_message=on_message)
    assert result.get(timeout=10) == {"slept": 2}
    assert sorted(set(seen)) == [0, 1]


def test_a_job_keeps_its_newest_items_up_to_the_cap(
    job_service: JobService, worker_factory: type[CeleryWorker], own_website: Website
) -> None:
    """CRAWLFLEET_ITEMS_MAX_PER_JOB bounds the job's stream; the oldest items are trimmed."""
    worker_factory(queues="capped", concurrency=1, extra_env={"CRAWLFLEET_ITEMS_MAX_PER_JOB": "5"})
    watch = run(job_service, spec(startUrls=[own_website.url("/page/0")], queue="capped", concurrency=1))
    assert watch.last is not None and watch.last.result is not None
    assert watch.last.result["items"] == own_website.size == 15
    kept = [item["url"] for item in job_service.store.read_items(watch.job_id, None, 100).items]
    # One request at a time, so the pages were scraped in the order the site served them.
    served = [own_website.url(path) for path in own_website.paths_requested() if path.startswith("/page/")]
    assert kept == served[-5:]


def test_a_higher_priority_job_runs_first_on_a_busy_worker(
    job_service: JobService, worker_factory: type[CeleryWorker], held_website: HeldWebsite
) -> None:
    """Both jobs wait in the queue while the worker's one process crawls the held site."""
    worker_factory(queues="priority", concurrency=1)
    busy = Watch(
        job_service,
        job_service.submit(spec(startUrls=[held_website.url("/slow/0")], maxPages=3, concurrency=1, queue="priority")),
    )
    busy.until(lambda s: s.state is JobState.PROGRESS, 30, "the first job to run")

    def one_page(priority: int) -> str:
        job = spec(startUrls=[held_website.url("/page/0")], followLinks=False, queue="priority", priority=priority)
        return job_service.submit(job)

    low, high = one_page(1), one_page(8)
    held_website.release()
    finished = {job_id: Watch(job_service, job_id).finished(60) for job_id in (low, high)}
    assert all(status.state is JobState.SUCCESS for status in finished.values())
    high_started, low_started = finished[high].started_at, finished[low].started_at
    assert high_started is not None and low_started is not None
    assert high_started < low_started


def test_an_item_selector_gives_one_item_per_element_with_fields_relative_to_it(
    job_service: JobService, celery_worker: CeleryWorker, own_website: Website
) -> None:
    job = spec(
        startUrls=[own_website.url("/page/0")],
        followLinks=False,
        itemSelector="a",
        extract={"href": "::attr(href)", "text": "xpath:./text()"},
    )
    watch = run(job_service, job)
    assert watch.last is not None and watch.last.state is JobState.SUCCESS, watch.last.error
    items = job_service.store.read_items(watch.job_id, None, 100).items
    page = own_website.url("/page/0")
    assert items == [
        {"url": page, "href": "/page/1", "text": "child 1"},
        {"url": page, "href": "/page/2", "text": "child 2"},
        {"url": page, "href": "/private/secret", "text": "secret"},
        {"url": page, "href": "http://offsite.invalid/", "text": "elsewhere"},
    ]


def test_user_agent_headers_and_cookies_go_with_every_request(
    job_service: JobService, celery_worker: CeleryWorker, own_website: Website
) -> None:
    job = spec(
        startUrls=[own_website.url("/page/0")],
        maxDepth=1,
        userAgent="team-bot/1.0 (+https://example.com/bot)",
        headers={"Accept-Language": "de"},
        cookies={"consent": "yes"},
    )
    assert run(job_service, job).last.state is JobState.SUCCESS  # type: ignore[union-attr]
    pages = [(path, headers) for path, headers in own_website.headers if path.startswith("/page/")]
    assert sorted(path for path, _ in pages) == ["/page/0", "/page/1", "/page/2"]
    for _, headers in pages:
        assert headers["User-Agent"] == "team-bot/1.0 (+https://example.com/bot)"
        assert headers["Accept-Language"] == "de"
        assert headers["Accept"].startswith("text/html"), "Scrapy's other default headers are kept"
        assert headers["Cookie"] == "consent=yes"


def test_a_download_delay_spaces_the_requests_to_a_site(
    job_service: JobService, celery_worker: CeleryWorker, own_website: Website
) -> None:
    job = spec(startUrls=[own_website.url("/page/0")], maxDepth=2, obeyRobotsTxt=False, downloadDelay=0.4)
    assert run(job_service, job).last.state is JobState.SUCCESS  # type: ignore[union-attr]
    moments = [moment for moment, path in own_website.requests if path.startswith("/page/")]
    assert len(moments) == 7
    # Scrapy waits between 0.5 and 1.5 times the delay; without one, requests follow each other in milliseconds.
    assert min(later - earlier for earlier, later in itertools.pairwise(moments)) >= 0.2


def test_auto_throttle_is_enabled_by_the_job(
    job_service: JobService, celery_worker: CeleryWorker, own_website: Website
) -> None:
    job = spec(startUrls=[own_website.url("/page/0")], maxDepth=0, autoThrottle={"targetConcurrency": 2.0})
    watch = run(job_service, job)
    assert watch.last is not None and watch.last.state is JobState.SUCCESS
    log = "\n".join(line for _, line in JobLogs.from_settings(job_service.settings).read(watch.job_id, None, 1000))
    assert "'scrapy.extensions.throttle.AutoThrottle'" in log.split("Enabled extensions:")[1].split("]")[0]
