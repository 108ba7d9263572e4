"""The crawl itself, as it runs in the process `crawlfleet_workers.supervisor` forks:
a fresh CrawlerProcess of the job's spider, the built-in one or a project's.

Its Scrapy settings come in three layers, each above the one before:

1. the spider's own: the project's settings module, or for the built-in spider what
   its spec asks for (Scrapy's `project` priority);
2. the job's: the spec's knobs, then its `settings` (Scrapy's `cmdline` priority,
   which is above a spider's `custom_settings`, as `scrapy crawl -s` is);
3. the platform's (`PLATFORM_PRIORITY`, above every priority Scrapy names, so that no
   project, spider or job setting reaches it): the address guard, disabled schemes,
   no proxies from the environment, no telnet console or remote control, the time and
   size limits, and the reporting of progress, items and the log. It is applied to
   the process's settings and again to the crawler's, after the spider's
   `custom_settings`; a component dict (DOWNLOADER_MIDDLEWARES, ITEM_PIPELINES, ...)
   gets the platform's entries added to what the others set, not replaced."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from importlib import import_module
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import BaseSettings
from scrapy.settings import Settings as ScrapySettings
from scrapy.settings.default_settings import LOG_DATEFORMAT, LOG_FORMAT
from scrapy.utils.misc import load_object

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.settings import Settings
from crawlfleet_core.store.logs import JobLogs
from crawlfleet_workers.budget import PAGE_BUDGET_SETTING
from crawlfleet_workers.catalog import project_settings
from crawlfleet_workers.eggs import ProjectCode
from crawlfleet_workers.feeds import feed_settings
from crawlfleet_workers.frontier import SHARD_SETTING
from crawlfleet_workers.guards import ALLOWED_NETWORKS_SETTING
from crawlfleet_workers.joblog import JobLogHandler
from crawlfleet_workers.reporting import ITEM_STREAM_ORDER, JOB_ID_SETTING, PLATFORM_SETTING, REPORT_FD_SETTING
from crawlfleet_workers.spider import JobSpider
from crawlfleet_workers.supervisor import send_report

PLATFORM_PRIORITY = 100
JOB_PRIORITY = "cmdline"
DEFAULT_LOG_LEVEL = "INFO"

log = logging.getLogger(__name__)


def spider_settings(spec: JobSpec) -> dict[str, Any]:
    """The built-in spider's settings, as a project's settings module would hold them."""
    return {
        "BOT_NAME": "crawlfleet",
        "USER_AGENT": "crawlfleet/0.1",
        "ROBOTSTXT_OBEY": spec.obey_robots_txt,
        "CONCURRENT_REQUESTS": spec.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": spec.concurrency,
        "DEPTH_LIMIT": spec.max_depth,
        # Breadth first, so that maxPages keeps the pages nearest the start.
        "DEPTH_PRIORITY": 1,
        # maxPages exactly, in the job's frontier (see platform_settings).
        PAGE_BUDGET_SETTING: spec.max_pages,
        "RETRY_TIMES": spec.retries,
        "DOWNLOAD_TIMEOUT": 30,
    }


def knob_settings(spec: JobSpec) -> dict[str, Any]:
    """The Scrapy settings of the spec's per-job knobs, for a spider of any kind."""
    knobs: dict[str, Any] = {}
    if spec.user_agent is not None:
        knobs["USER_AGENT"] = spec.user_agent
    if spec.headers:
        knobs["DEFAULT_REQUEST_HEADERS"] = dict(spec.headers)
    if spec.download_delay is not None:
        knobs["DOWNLOAD_DELAY"] = spec.download_delay
    if spec.auto_throttle is not None:
        knobs.update(
            AUTOTHROTTLE_ENABLED=True,
            AUTOTHROTTLE_TARGET_CONCURRENCY=spec.auto_throttle.target_concurrency,
            AUTOTHROTTLE_START_DELAY=spec.auto_throttle.start_delay,
            AUTOTHROTTLE_MAX_DELAY=spec.auto_throttle.max_delay,
        )
    return knobs


def platform_settings(spec: JobSpec, settings: Settings) -> dict[str, Any]:
    """What the platform sets for every crawl, above anything else."""
    return {
        "CLOSESPIDER_TIMEOUT": spec.time_limit(settings.soft_time_limit_seconds),
        # The job's frontier in Redis, for a spider of any kind: resumable, shared by
        # every shard of the job, and holding the page budget exactly: the scheduler
        # hands out requests within it, and the downloader tells it how each fetch ended.
        "SCHEDULER": "crawlfleet_workers.frontier.FrontierScheduler",
        "DUPEFILTER_CLASS": "crawlfleet_workers.frontier.FrontierDupeFilter",
        "DOWNLOADER": "crawlfleet_workers.budget.SignallingDownloader",
        "DOWNLOAD_MAXSIZE": 16 * 1024 * 1024,
        "DOWNLOAD_HANDLERS": {"file": None, "data": None, "s3": None, "ftp": None},
        # Feeds may not reach the network past the guard either: a job's own feeds
        # (below) turn S3 back on, to the platform's buckets only.
        "FEED_STORAGES": {"s3": None, "gs": None, "ftp": None},
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
        "ITEM_PIPELINES": {"crawlfleet_workers.reporting.ItemStream": ITEM_STREAM_ORDER},
        # The item pipeline opens the job store these name, with their TTL and items bound.
        PLATFORM_SETTING: settings,
        # A proxy from the environment would connect on the crawl's behalf, past the guard.
        "HTTPPROXY_ENABLED": False,
        # Neither a telnet console nor Scrapy's remote-control HTTP server may
        # listen inside a worker that runs other people's crawls.
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        # A job directory would persist pickled requests on the worker's disk.
        "JOBDIR": None,
        # The worker's logging is set up already; Scrapy's records propagate to it and to the job's log.
        "LOG_INSTALL_ROOT_HANDLER": False,
        **feed_settings(spec, settings),
    }


def scrapy_settings(spec: JobSpec, settings: Settings, project: ScrapySettings | None = None) -> ScrapySettings:
    """The crawl's settings: `project`'s (the built-in spider's when None) < the job's < the platform's.

    `project` is built on in place: each crawl loads its project's settings afresh,
    and a copy would cost the crawl's start a deep copy of every setting."""
    merged = project if project is not None else ScrapySettings()
    merged.set("LOG_LEVEL", DEFAULT_LOG_LEVEL, priority="default")
    if project is None:
        merged.setdict(spider_settings(spec), priority="project")
    for name, value in knob_settings(spec).items():
        # A knob's dict (the headers) adds to the one below it, as the job means it.
        merged.set(name, {**merged.getdict(name), **value} if isinstance(value, dict) else value, JOB_PRIORITY)
    merged.setdict(dict(spec.settings), priority=JOB_PRIORITY)
    apply_platform(merged, {**platform_settings(spec, settings), **shard_share(spec, merged)})
    return merged


def shard_share(spec: JobSpec, merged: BaseSettings) -> dict[str, Any]:
    """One shard's part of the job's politeness, so that a site sees the job's
    concurrency and delay however many shards crawl it: the concurrency divided among
    the shards, the delay between two requests multiplied by them."""
    if spec.shards == 1:
        return {}
    share: dict[str, Any] = {
        name: max(1, merged.getint(name) // spec.shards)
        for name in ("CONCURRENT_REQUESTS", "CONCURRENT_REQUESTS_PER_DOMAIN")
    }
    if delay := merged.getfloat("DOWNLOAD_DELAY"):
        share["DOWNLOAD_DELAY"] = delay * spec.shards
    return share


def apply_platform(settings: BaseSettings, platform: Mapping[str, Any]) -> None:
    """Set the platform's settings over `settings` so that nothing set later changes
    them: a component dict keeps the others' entries and gets the platform's, each at
    PLATFORM_PRIORITY, and the dict itself can no longer be replaced as a whole."""
    for name, value in platform.items():
        if isinstance(value, dict):
            current = settings.get(name)
            components = BaseSettings(current if isinstance(current, BaseSettings) else (current or {}))
            for key, entry in value.items():
                components.set(key, entry, PLATFORM_PRIORITY)
            settings.set(name, components, PLATFORM_PRIORITY)
        else:
            settings.set(name, value, PLATFORM_PRIORITY)


def overridden(attempted: Mapping[str, Any], platform: Mapping[str, Any]) -> list[str]:
    """The platform's settings that `attempted` (a project's or a job's) tried to change,
    as `NAME` or `NAME[component]`, so the job's log can say they were ignored."""
    found: list[str] = []
    for name, value in platform.items():
        if name not in attempted:
            continue
        wanted = attempted[name]
        if isinstance(value, dict):
            wanted = BaseSettings(wanted).copy_to_dict() if isinstance(wanted, str | dict | BaseSettings) else {}
            found.extend(f"{name}[{key}]" for key in value if key in wanted and wanted[key] != value[key])
        elif str(wanted) != str(value):
            found.append(name)
    return found


def module_settings(settings_module: str) -> dict[str, Any]:
    """What a project's settings module sets (its upper-case names)."""
    module = import_module(settings_module)
    return {name: getattr(module, name) for name in dir(module) if name.isupper()}


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
    "SPIDER_LOADER_CLASS",
    "ROBOTSTXT_PARSER",
)


def preload_crawl_components() -> None:
    """Import every class a crawl loads by name, once, in the worker before it forks.

    Scrapy imports its middlewares, extensions and download handlers only when a
    crawl starts; in a forked crawl that would be paid again by every job (about
    half a second here, much of it in Scrapy's deprecation shims). None of these
    modules installs a reactor on import, so the fork still gets a fresh one."""
    settings = scrapy_settings(JobSpec(start_urls=["http://preload.invalid/"]), Settings())
    paths: list[str] = []
    for name in COMPONENT_DICTS:
        paths.extend(path for path in settings.getdict(name) if isinstance(path, str))
    paths.extend(path for path in settings.getdict("DOWNLOAD_HANDLERS_BASE").values() if isinstance(path, str))
    paths.extend(value for name in COMPONENT_SETTINGS if isinstance(value := settings.get(name), str))
    for path in paths:
        if "." in path:  # some settings hold a placeholder, not a class path
            load_object(path)


def crawl(
    job_id: str, spec: JobSpec, settings: Settings, report_fd: int, project: ProjectCode | None, shard: int = 0
) -> None:
    """Run the job's crawl (its `shard`) to its end, reporting on `report_fd`.

    A crawl that cannot start because of the job's own code or arguments (a project
    that does not import, an unknown spider, a spider that refuses its arguments) is
    reported as `failed`, with its traceback, in the job's log too: running it
    again would fail again, so it is not retried."""
    formatter = logging.Formatter(LOG_FORMAT, LOG_DATEFORMAT)
    handler = JobLogHandler(JobLogs.from_settings(settings), job_id, logging.INFO, formatter)
    root = logging.getLogger()
    root.addHandler(handler)
    handler.start()
    try:
        _run(job_id, spec, settings, report_fd, project, handler, shard)
    except Exception:
        log.exception("the crawl could not start")
        send_report(report_fd, {"failed": traceback.format_exc()})
    finally:
        root.removeHandler(handler)
        handler.stop()


def _run(
    job_id: str,
    spec: JobSpec,
    settings: Settings,
    report_fd: int,
    project: ProjectCode | None,
    handler: JobLogHandler,
    shard: int,
) -> None:
    base = project_settings(project) if project is not None else None
    merged = scrapy_settings(spec, settings, base)
    _log_as(merged, handler)
    platform = {
        **platform_settings(spec, settings),
        JOB_ID_SETTING: job_id,
        REPORT_FD_SETTING: report_fd,
        SHARD_SETTING: str(shard),
    }
    attempts = [("job", dict(spec.settings))]
    if project is not None:
        attempts.insert(0, ("project", module_settings(project.settings_module)))
    for source, attempted in attempts:
        for name in overridden(attempted, platform):
            log.warning("the %s's setting %s is the platform's: it was left as the platform sets it", source, name)
    process = CrawlerProcess(merged)
    if project is None:
        spidercls: Any = JobSpider
        arguments: dict[str, Any] = {"spec": spec}
    else:
        spidercls = process.spider_loader.load(str(spec.spider))
        # Scrapyd hands every spider its job id as `_job`; projects written for it read it.
        arguments = {**spec.spider_args, "_job": job_id}
    crawler = process.create_crawler(spidercls)
    apply_platform(crawler.settings, platform)
    failures: list[str] = []
    process.crawl(crawler, **arguments).addErrback(lambda failure: failures.append(failure.getTraceback()))
    process.start()
    if failures:
        log.error("the spider could not run:\n%s", failures[0])
        send_report(report_fd, {"failed": failures[0]})


def _log_as(settings: ScrapySettings, handler: JobLogHandler) -> None:
    """Log at the job's LOG_LEVEL in its LOG_FORMAT, into the job's log only: the
    worker's own handlers keep their level."""
    handler.setFormatter(logging.Formatter(settings.get("LOG_FORMAT"), settings.get("LOG_DATEFORMAT")))
    level = logging.getLevelName(str(settings.get("LOG_LEVEL")).upper())
    if not isinstance(level, int):
        log.warning("LOG_LEVEL %r is not a level; logging at %s", settings.get("LOG_LEVEL"), DEFAULT_LOG_LEVEL)
        level = logging.INFO
    root = logging.getLogger()
    for other in root.handlers:
        if other is not handler and other.level < root.level:
            other.setLevel(root.level)
    handler.setLevel(level)
    root.setLevel(min(root.level, level))
