"""The worker's Celery application: `celery --app=crawlfleet_workers.app worker`.

Flower and the worker's liveness probe (`celery inspect ping`) load this module too,
so it stays light: the task modules come through `include`, and Scrapy with every
crawl component is imported by a worker alone, at `worker_init`, before the prefork
pool forks, so that every crawl still starts from a warm interpreter."""

from __future__ import annotations

from typing import Any

from celery import signals

from crawlfleet_core.celery_app import create_celery_app
from crawlfleet_core.settings import get_settings
from crawlfleet_workers.activity import ActivityReport
from crawlfleet_workers.announcement import QueueAnnouncement
from crawlfleet_workers.recovery import Recovery

settings = get_settings()
app = create_celery_app(settings)
app.conf.include = ["crawlfleet_workers.bookkeeping", "crawlfleet_workers.tasks", "crawlfleet_workers.webhooks"]
# A job's state and result must outlast a Redis outage as short as a Sentinel failover:
# a worker retries the result backend for about CRAWLFLEET_REDIS_OUTAGE_SECONDS (the
# full-jitter backoff sleeps one second on average once it has grown to its 2 s cap),
# where a client of the API is better served by a quick 503.
app.conf.update(
    result_backend_always_retry=True,
    result_backend_base_sleep_between_retries_ms=100,
    result_backend_max_sleep_between_retries_ms=2000,
    result_backend_max_retries=settings.redis_outage_seconds,
)
app.steps["consumer"].add(ActivityReport)
app.steps["consumer"].add(QueueAnnouncement)
app.steps["worker"].add(Recovery)


@signals.worker_init.connect
def preload_crawl_code(**_: Any) -> None:
    from crawlfleet_workers.crawling import preload_crawl_components

    preload_crawl_components()
