"""The crawl itself, as it runs in the process `crawlfleet_workers.supervisor` forks:
a fresh CrawlerProcess of the job's spider, with the platform's Scrapy settings."""

from __future__ import annotations

import logging
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings as ScrapySettings
from scrapy.utils.misc import load_object

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.settings import Settings
from crawlfleet_workers.budget import PAGE_BUDGET_SETTING
from crawlfleet_workers.feeds import feed_settings
from crawlfleet_workers.frontier import SHARD_SETTING
from crawlfleet_workers.guards import ALLOWED_NETWORKS_SETTING
from crawlfleet_workers.reporting import JOB_ID_SETTING, PLATFORM_SETTING, REPORT_FD_SETTING
from crawlfleet_workers.spider import JobSpider


def scrapy_settings(spec: JobSpec, settings: Settings) -> dict[str, Any]:
    # The shards share the job's concurrency, so that a site sees the job's, however many crawl it.
    concurrency = spec.concurrency // spec.shards
    return {
        "BOT_NAME": "crawlfleet",
        "USER_AGENT": "crawlfleet/0.1",
        "ROBOTSTXT_OBEY": spec.obey_robots_txt,
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "DEPTH_LIMIT": spec.max_depth,
        # Breadth first, so that maxPages keeps the pages nearest the start.
        "DEPTH_PRIORITY": 1,
        # The job's frontier in Redis: resumable, shared by every process crawling the
        # job, and holding maxPages exactly: the scheduler hands out requests within the
        # page budget, and the downloader tells it how each fetch ended.
        "SCHEDULER": "crawlfleet_workers.frontier.FrontierScheduler",
        "DUPEFILTER_CLASS": "crawlfleet_workers.frontier.FrontierDupeFilter",
        "DOWNLOADER": "crawlfleet_workers.budget.SignallingDownloader",
        PAGE_BUDGET_SETTING: spec.max_pages,
        "CLOSESPIDER_TIMEOUT": spec.time_limit(settings.soft_time_limit_seconds),
        "RETRY_TIMES": spec.retries,
        "DOWNLOAD_TIMEOUT": 30,
        "DOWNLOAD_MAXSIZE": 16 * 1024 * 1024,
        "DOWNLOAD_HANDLERS": {"file": None, "data": None, "s3": None, "ftp": None},
        "TWISTED_DNS_RESOLVER": "crawlfleet_workers.guards.PublicAddressResolver",
        "DOWNLOADER_MIDDLEWARES": {
            "crawlfleet_workers.guards.AddressGuardMiddleware": 50,
            # Last before the download starts, after DownloadTimeoutMiddleware set its timeout.
            "crawlfleet_workers.deadline.DownloadDeadline": 950,
        },
        # Nearest the spider, so that it numbers items as the callback yields them.
        "SPIDER_MIDDLEWARES": {"crawlfleet_workers.item_keys.ItemKeys": 1000},
        ALLOWED_NETWORKS_SETTING: settings.allowed_networks,
        "EXTENSIONS": {"crawlfleet_workers.reporting.ProgressReport": 0},
        "ITEM_PIPELINES": {"crawlfleet_workers.reporting.ItemStream": 1000},
        # The item pipeline opens the job store these name, with their TTL and items bound.
        PLATFORM_SETTING: settings,
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
    "SPIDER_MIDDLEWARES",
    "EXTENSIONS",
    "ITEM_PIPELINES",
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


def crawl(job_id: str, spec: JobSpec, settings: Settings, report_fd: int, shard: int = 0) -> None:
    """Run the job's crawl (its `shard`) to its end, reporting on `report_fd`; raise if Scrapy failed to run it."""
    # Scrapy logs every request and item at DEBUG; the worker's log keeps INFO and up.
    logging.getLogger("scrapy").setLevel(logging.INFO)
    process = CrawlerProcess(
        {
            **scrapy_settings(spec, settings),
            **feed_settings(spec, settings),
            JOB_ID_SETTING: job_id,
            REPORT_FD_SETTING: report_fd,
            SHARD_SETTING: str(shard),
        }
    )
    failures: list[str] = []
    process.crawl(JobSpider, spec=spec).addErrback(lambda failure: failures.append(failure.getTraceback()))
    process.start()
    if failures:
        raise RuntimeError(failures[0])
