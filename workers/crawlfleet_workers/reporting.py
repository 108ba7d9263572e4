"""What a crawl tells the platform while it runs: its items, into the job's Redis
stream (an item pipeline), and its progress and final stats, to the supervisor
on the crawl's pipe (an extension). Both are enabled by the crawl's Scrapy
settings (`crawlfleet_workers.crawling.scrapy_settings`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy import Spider, signals
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from crawlfleet_core.model.status import Progress
from crawlfleet_core.store.jobs import JobStore
from crawlfleet_workers.bookkeeping import patient_job_store
from crawlfleet_workers.feeds import feed_stats
from crawlfleet_workers.guards import BLOCKED_HOSTS, FIRST_BLOCKED_STAT
from crawlfleet_workers.item_keys import ItemKeys, content_key
from crawlfleet_workers.spider import JobSpider
from crawlfleet_workers.supervisor import send_report

if TYPE_CHECKING:
    from crawlfleet_workers.frontier import FrontierScheduler

JOB_ID_SETTING = "CRAWLFLEET_JOB_ID"
PLATFORM_SETTING = "CRAWLFLEET_PLATFORM_SETTINGS"
REPORT_FD_SETTING = "CRAWLFLEET_REPORT_FD"

PROGRESS_INTERVAL_SECONDS = 0.5
ITEM_BATCH_SIZE = 100
ITEMS_STORED_STAT = "crawlfleet/items_stored"
# After every item pipeline of a project, whatever order it gives them: items are
# stored as the project's pipelines leave them.
ITEM_STREAM_ORDER = 2**31 - 1

progress_due = object()
"""Scrapy signal sent when the items yielded so far must be in the job's stream: just
before each progress report, so that a client reading it finds the items it counts,
and before the frontier acknowledges the requests the items came from."""


class ItemStream:
    """Item pipeline appending every item, of any shape, to the job's stream in
    batches, each under its key (`item_keys.ItemKeys`), so that an item an earlier
    run of the job stored is not stored again."""

    def __init__(self, store: JobStore, job_id: str, crawler: Any) -> None:
        self.store = store
        self.job_id = job_id
        self.crawler = crawler
        self.batch: list[tuple[str, dict[str, Any]]] = []
        self.keys: ItemKeys | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> ItemStream:
        settings = crawler.settings
        pipeline = cls(patient_job_store(settings[PLATFORM_SETTING]), settings[JOB_ID_SETTING], crawler)
        crawler.signals.connect(pipeline.flush, signal=progress_due)
        return pipeline

    def open_spider(self, spider: Spider | None = None) -> None:
        # Settings that leave the middleware out still store each item once, by its content.
        self.keys = self.crawler.get_spider_middleware(ItemKeys)
        # A redelivered or retried run counts on from what the runs before it stored.
        self.crawler.stats.set_value(ITEMS_STORED_STAT, self.store.items_stored(self.job_id))

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        key = self.keys.key_of(item) if self.keys is not None else content_key(item)
        self.batch.append((key, ItemAdapter(item).asdict()))
        if len(self.batch) >= ITEM_BATCH_SIZE:
            self.flush()
        return item

    def close_spider(self, spider: Spider | None = None) -> None:
        self.flush()
        # Other shards of the job may have stored items since this one last did.
        self.crawler.stats.set_value(ITEMS_STORED_STAT, self.store.items_stored(self.job_id))

    def flush(self) -> None:
        if self.batch:
            self.crawler.stats.set_value(ITEMS_STORED_STAT, self.store.append_items(self.job_id, self.batch))
            self.batch = []


class ProgressReport:
    """Extension reporting the crawl's progress every `PROGRESS_INTERVAL_SECONDS`,
    and its stats summary, the job's result, when the spider closes.

    Pages are the job's, from its frontier, over all its shards and runs. The built-in
    spider counts its own errors and skips; a project's spider is counted from
    Scrapy's stats: error log records and requests robots.txt forbade. The first
    exception a spider raised is kept with its traceback: a spider that raises fails
    its job."""

    def __init__(self, crawler: Any, report_fd: int) -> None:
        self.crawler = crawler
        self.report_fd = report_fd
        self.started = time.monotonic()
        self.ticker: LoopingCall | None = None
        self.spider_error: str | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> ProgressReport:
        extension = cls(crawler, crawler.settings.getint(REPORT_FD_SETTING))
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(extension.spider_raised, signal=signals.spider_error)
        return extension

    def counts(self, spider: Spider) -> tuple[int, int]:
        """Errors, and requests skipped on purpose, of this crawl process."""
        if isinstance(spider, JobSpider):
            return spider.errors, spider.skipped
        stats = self.crawler.stats
        return stats.get_value("log_count/ERROR", 0), stats.get_value("robotstxt/forbidden", 0)

    def progress(self, spider: Spider) -> Progress:
        errors, _ = self.counts(spider)
        return Progress(
            pages=self.scheduler().pages(),
            items=self.crawler.stats.get_value(ITEMS_STORED_STAT, 0),
            errors=errors,
            percent=self.percent(),
        )

    def spider_raised(self, failure: Failure, response: Any, spider: Spider) -> None:
        if self.spider_error is None:
            self.spider_error = failure.getTraceback()

    def scheduler(self) -> FrontierScheduler:
        scheduler: FrontierScheduler = self.crawler.engine.scheduler  # the crawl's settings name it
        return scheduler

    def percent(self) -> float:
        return self.scheduler().percent()

    def spider_opened(self, spider: Spider) -> None:
        # Made only now: a LoopingCall made before the crawl runs would import (and
        # so install) Twisted's default reactor before Scrapy installs the one it wants.
        self.ticker = LoopingCall(self.report_progress, spider)
        self.ticker.start(PROGRESS_INTERVAL_SECONDS, now=False)

    def report_progress(self, spider: Spider) -> None:
        self.crawler.signals.send_catch_log(progress_due)
        send_report(self.report_fd, {"progress": self.progress(spider).model_dump()})

    def spider_closed(self, spider: Spider, reason: str) -> None:
        """Item pipelines have closed (and so stored every item) before this signal.
        Feeds are uploaded after it: a job with feeds reports once they are stored."""
        if self.ticker is not None and self.ticker.running:
            self.ticker.stop()
        if self.crawler.settings.getdict("FEEDS"):
            self.crawler.signals.connect(
                lambda: self.report_stats(spider, reason), signal=signals.feed_exporter_closed, weak=False
            )
        else:
            self.report_stats(spider, reason)

    def report_stats(self, spider: Spider, reason: str) -> None:
        stats = self.crawler.stats
        errors, skipped = self.counts(spider)
        blocked = stats.get_value(FIRST_BLOCKED_STAT) or next(iter(BLOCKED_HOSTS.values()), None)
        send_report(
            self.report_fd,
            {
                "progress": self.progress(spider).model_copy(update={"percent": 100.0}).model_dump(),
                "stats": {
                    "finish_reason": reason,
                    "pages": self.scheduler().pages(),
                    "items": stats.get_value(ITEMS_STORED_STAT, 0),
                    "errors": errors,
                    "skipped": skipped,
                    "item_scraped_count": stats.get_value("item_scraped_count", 0),
                    "item_dropped_count": stats.get_value("item_dropped_count", 0),
                    "response_received_count": stats.get_value("response_received_count", 0),
                    "duration_seconds": round(time.monotonic() - self.started, 3),
                    "first_error": getattr(spider, "first_error", None) or blocked,
                    "first_skip": getattr(spider, "first_skip", None),
                    "spider_error": self.spider_error,
                    **feed_stats(self.crawler),
                },
            },
        )
