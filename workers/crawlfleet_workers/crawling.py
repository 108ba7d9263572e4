"""Run one crawl in a forked process with a fresh Twisted reactor.

A Twisted reactor cannot be restarted, so a worker that ran one crawl in-process
could never run a second. Each crawl therefore runs in a child forked from the
Celery pool process. The worker imported Scrapy before forking its pool (see
`crawlfleet_workers.app`), so the fork costs milliseconds where a fresh
interpreter would pay about a second of imports. The child dies with its parent
(PR_SET_PDEATHSIG), so revoking or killing the task's process ends the crawl and
nothing else. The child reports progress and its final stats as JSON lines on a
pipe and writes items straight to the job's Redis stream."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings as ScrapySettings
from scrapy.utils.misc import load_object
from twisted.internet.task import LoopingCall

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.status import Progress
from crawlfleet_core.settings import Settings
from crawlfleet_core.store.jobs import JobStore
from crawlfleet_workers.spider import JobSpider

PROGRESS_INTERVAL_SECONDS = 0.5
ITEM_BATCH_SIZE = 100
STOP_GRACE_SECONDS = 20
PR_SET_PDEATHSIG = 1


def scrapy_settings(spec: JobSpec, settings: Settings) -> dict[str, Any]:
    return {
        "BOT_NAME": "crawlfleet",
        "USER_AGENT": "crawlfleet/0.1",
        "ROBOTSTXT_OBEY": spec.obey_robots_txt,
        "CONCURRENT_REQUESTS": spec.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": spec.concurrency,
        "DEPTH_LIMIT": spec.max_depth,
        # Breadth first, so that maxPages keeps the pages nearest the start.
        "DEPTH_PRIORITY": 1,
        "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
        "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
        "CLOSESPIDER_TIMEOUT": spec.time_limit_seconds,
        "RETRY_TIMES": spec.retries,
        "DOWNLOAD_TIMEOUT": 30,
        "DOWNLOAD_MAXSIZE": 16 * 1024 * 1024,
        "DOWNLOAD_HANDLERS": {"file": None, "data": None, "s3": None, "ftp": None},
        "TWISTED_DNS_RESOLVER": "crawlfleet_workers.guards.PublicAddressResolver",
        "DOWNLOADER_MIDDLEWARES": {"crawlfleet_workers.guards.AddressGuardMiddleware": 50},
        "CRAWLFLEET_ALLOWED_NETWORKS": settings.allowed_networks,
        # A proxy from the environment would connect on the crawl's behalf, past the guard.
        "HTTPPROXY_ENABLED": False,
        # Neither a telnet console nor Scrapy's remote-control HTTP server may
        # listen inside a worker that runs other people's crawls.
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": "INFO",
        # The worker's logging is set up already; Scrapy's records propagate to it.
        "LOG_INSTALL_ROOT_HANDLER": False,
    }


COMPONENT_DICTS = (
    "DOWNLOADER_MIDDLEWARES_BASE",
    "SPIDER_MIDDLEWARES_BASE",
    "EXTENSIONS_BASE",
    "ITEM_PIPELINES_BASE",
    "DOWNLOADER_MIDDLEWARES",
)
COMPONENT_SETTINGS = (
    "SCHEDULER",
    "SCHEDULER_PRIORITY_QUEUE",
    "SCHEDULER_MEMORY_QUEUE",
    "SCHEDULER_DISK_QUEUE",
    "DUPEFILTER_CLASS",
    "STATS_CLASS",
    "DOWNLOADER",
    "REQUEST_FINGERPRINTER_CLASS",
    "LOG_FORMATTER",
    "DOWNLOADER_HTTPCLIENTFACTORY",
    "DOWNLOADER_CLIENTCONTEXTFACTORY",
    "TWISTED_DNS_RESOLVER",
)


def preload_crawl_components() -> None:
    """Import every class a crawl loads by name, once, in the worker before it forks.

    Scrapy imports its middlewares, extensions and download handlers only when a
    crawl starts; in a forked crawl that would be paid again by every job (about
    half a second here, much of it in Scrapy's deprecation shims). None of these
    modules installs a reactor on import, so the fork still gets a fresh one."""
    settings = ScrapySettings(scrapy_settings(JobSpec(start_urls=["http://preload.invalid/"]), Settings()))
    paths: list[str] = []
    for name in COMPONENT_DICTS:
        paths.extend(path for path in settings.getdict(name) if isinstance(path, str))
    paths.extend(path for path in settings.getdict("DOWNLOAD_HANDLERS_BASE").values() if isinstance(path, str))
    paths.extend(value for name in COMPONENT_SETTINGS if isinstance(value := settings.get(name), str))
    for path in paths:
        if "." in path:  # some settings hold a placeholder, not a class path
            load_object(path)


@dataclass
class CrawlOutcome:
    stats: dict[str, Any] | None
    """The crawl's final stats; None when its process died without reporting."""
    exit_description: str
    timed_out: bool = False
    error: str | None = None


def describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.WEXITSTATUS(status)}"


def run_crawl(job_id: str, spec: JobSpec, settings: Settings, on_progress: Callable[[Progress], None]) -> CrawlOutcome:
    """Crawl in a child process; call `on_progress` as reports arrive; return how it ended."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child_main(job_id, spec, settings, write_fd)
    os.close(write_fd)
    stats: dict[str, Any] | None = None
    error: str | None = None
    timed_out = False
    kill_at: float | None = None
    pending = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while True:
            try:
                if kill_at is not None and time.monotonic() > kill_at:
                    os.kill(pid, signal.SIGKILL)
                    kill_at = None
                ready, _, _ = select.select([pipe], [], [], 1.0)
                if not ready:
                    continue
                chunk = pipe.read(65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    report = json.loads(line)
                    if "progress" in report:
                        on_progress(Progress.model_validate(report["progress"]))
                    stats = report.get("stats", stats)
                    error = report.get("error", error)
            except SoftTimeLimitExceeded:
                # Ask Scrapy to close cleanly, and kill it if it will not.
                timed_out = True
                os.kill(pid, signal.SIGTERM)
                kill_at = time.monotonic() + STOP_GRACE_SECONDS
    _, status = os.waitpid(pid, 0)
    return CrawlOutcome(stats=stats, exit_description=describe_exit(status), timed_out=timed_out, error=error)


def _child_main(job_id: str, spec: JobSpec, settings: Settings, write_fd: int) -> None:
    """The forked crawl process. Never returns: it must not run the pool's code."""
    code = 1
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)
        for signum in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        _crawl(job_id, spec, settings, write_fd)
        code = 0
    except BaseException:
        traceback.print_exc()
        with contextlib.suppress(OSError):  # the parent may be gone already
            os.write(write_fd, json.dumps({"error": traceback.format_exc(limit=3)}).encode() + b"\n")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


@dataclass
class _Reporter:
    """Lives in the crawl process: batches items into Redis and reports progress."""

    job_id: str
    store: JobStore
    write_fd: int
    spider: Any = None
    items: list[dict[str, Any]] = field(default_factory=list)
    items_written: int = 0
    started: float = field(default_factory=time.monotonic)

    def send(self, report: dict[str, Any]) -> None:
        os.write(self.write_fd, json.dumps(report).encode() + b"\n")

    def item_scraped(self, item: Any, **_: Any) -> None:
        self.items.append(dict(item))
        if len(self.items) >= ITEM_BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if self.items:
            self.store.append_items(self.job_id, self.items)
            self.items_written += len(self.items)
            self.items = []

    def progress(self) -> Progress:
        return Progress(
            pages=self.spider.pages,
            items=self.items_written,
            errors=self.spider.errors,
            percent=self.spider.percent(),
        )

    def tick(self) -> None:
        self.flush()
        self.send({"progress": self.progress().model_dump()})

    def spider_closed(self, spider: Any, reason: str) -> None:
        self.flush()
        stats = spider.crawler.stats
        self.send(
            {
                "progress": self.progress().model_copy(update={"percent": 100.0}).model_dump(),
                "stats": {
                    "finish_reason": reason,
                    "pages": spider.pages,
                    "items": self.items_written,
                    "errors": spider.errors,
                    "skipped": spider.skipped,
                    "item_scraped_count": stats.get_value("item_scraped_count", 0),
                    "response_received_count": stats.get_value("response_received_count", 0),
                    "error_count": spider.errors,
                    "duration_seconds": round(time.monotonic() - self.started, 3),
                    "first_error": spider.first_error,
                    "first_skip": spider.first_skip,
                },
            }
        )


def _crawl(job_id: str, spec: JobSpec, settings: Settings, write_fd: int) -> None:
    # Scrapy logs every request and item at DEBUG; the worker's log keeps INFO and up.
    logging.getLogger("scrapy").setLevel(logging.INFO)
    store = JobStore.from_settings(settings)
    reporter = _Reporter(job_id, store, write_fd)
    process = CrawlerProcess(scrapy_settings(spec, settings))
    crawler = process.create_crawler(JobSpider)
    # Created once the crawl runs: a LoopingCall made earlier would import (and so
    # install) Twisted's default reactor before Scrapy installs the one it wants.
    tickers: list[LoopingCall] = []

    def engine_started() -> None:
        reporter.spider = crawler.spider
        tickers.append(LoopingCall(reporter.tick))
        tickers[0].start(PROGRESS_INTERVAL_SECONDS, now=False)

    def spider_closed(spider: Any, reason: str) -> None:
        for ticker in tickers:
            if ticker.running:
                ticker.stop()
        reporter.spider_closed(spider, reason)

    crawler.signals.connect(engine_started, signal=signals.engine_started)
    crawler.signals.connect(reporter.item_scraped, signal=signals.item_scraped)
    crawler.signals.connect(spider_closed, signal=signals.spider_closed)
    crawl = process.crawl(crawler, spec=spec)
    failures: list[str] = []
    crawl.addErrback(lambda failure: failures.append(failure.getTraceback()))
    process.start()
    if failures:
        raise RuntimeError(failures[0])
