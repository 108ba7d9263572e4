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

app = create_celery_app(get_settings())
app.conf.include = ["crawlfleet_workers.bookkeeping", "crawlfleet_workers.tasks", "crawlfleet_workers.webhooks"]
app.steps["consumer"].add(ActivityReport)
app.steps["consumer"].add(QueueAnnouncement)


@signals.worker_init.connect
def preload_crawl_code(**_: Any) -> None:
    from crawlfleet_workers.crawling import preload_crawl_components

    preload_crawl_components()
