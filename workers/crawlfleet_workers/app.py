"""The worker's Celery application: `celery -A crawlfleet_workers.app worker`.

Importing the tasks here also imports Scrapy in the worker's main process, before
the prefork pool forks, so every crawl starts from a warm interpreter."""

from __future__ import annotations

from crawlfleet_core.celery_app import create_celery_app
from crawlfleet_core.settings import get_settings

app = create_celery_app(get_settings())

from crawlfleet_workers import activity, bookkeeping, tasks  # noqa: E402  (signal handlers and tasks)
from crawlfleet_workers.crawling import preload_crawl_components  # noqa: E402

preload_crawl_components()

__all__ = ["activity", "app", "bookkeeping", "tasks"]
