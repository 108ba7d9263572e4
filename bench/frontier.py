"""The crawl frontier's cost and what shards buy, on a generated docs-like site of
`SIZE` pages served by nginx (`bench.static_site`). Prints figures; never pass/fail.

- 1 shard: pages/s of a job ÷ pages/s of plain `scrapy runspider` of the same spider
  (the platform's `JobSpider`, `bench/job_spider.py`) with the same concurrency;
- 2 shards on one worker of two slots ÷ 1 shard;
- resume: a worker SIGKILLed with 40 % of the site fetched, the job redelivered to
  another by the heartbeat restore (shipped defaults): pages fetched a second time.

Pages/s are counted in nginx's access log, from a crawl's first page request to its
last, so that neither interpreter start-up nor the queue is in them. CPU seconds per
page say what each costs whatever else the machine runs: on a machine shared with
other work, a crawl gets less than a core, and shards less than one each. A plot of pages
over time per shard (the frontier's counters, sampled) goes to
`bench/results/frontier-shards.png`. Run: `python -m bench.frontier`."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.crawl_platform import running_platform
from bench.static_site import StaticSite
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.states import JobState
from crawlfleet_core.service import JobService
from crawlfleet_core.store.frontier import Frontier
from tests.harness.jobs import Watch
from tests.harness.ports import wait_until
from tests.harness.worker_loss import SURVIVOR, VICTIM, Fleet

SIZE = 2500
CONCURRENCY = 8
RESUME_KILL_AT = 0.4
RESULTS = Path(__file__).parent / "results"
SPIDER = Path(__file__).parent / "job_spider.py"

Samples = list[tuple[float, dict[str, int]]]


def rate(requests: list[tuple[float, str]]) -> float:
    """Pages per second from the first page request to the last."""
    return (len(requests) - 1) / (requests[-1][0] - requests[0][0])


def plain_scrapy(site: StaticSite) -> tuple[list[tuple[float, str]], float]:
    """Its page requests, and the CPU seconds it used."""
    before = len(site.page_requests())
    used_before = children_cpu_seconds()
    settings = {
        "CONCURRENT_REQUESTS": CONCURRENCY,
        "CONCURRENT_REQUESTS_PER_DOMAIN": CONCURRENCY,
        "DEPTH_PRIORITY": 1,
        "ROBOTSTXT_OBEY": True,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "INFO",
    }
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [sys.executable, "-m", "scrapy", "runspider", str(SPIDER), "-a", f"start_url={site.url('/page/0')}"]
            + [arg for name, value in settings.items() for arg in ("-s", f"{name}={value}")]
            + ["-O", f"{scratch}/items.jsonl", "-L", "WARNING"],
            check=True,
            timeout=600,
        )
    return site.page_requests()[before:], children_cpu_seconds() - used_before


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def worker_cpu_seconds(seen: dict[int, float]) -> None:
    """Note the CPU seconds each process of the worker (its pool, the crawls) has used so far."""
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "celery" in process.cmdline():
                times = process.cpu_times()
                seen[process.pid] = times.user + times.system


def job_run(service: JobService, site: StaticSite, shards: int) -> tuple[list[tuple[float, str]], Samples, int, float]:
    """A job crawling the whole site in `shards`: its page requests, the pages each shard
    had fetched every 0.1 s, the pages it reports, and the CPU seconds the worker used."""
    before = len(site.page_requests())
    spec = JobSpec.model_validate(
        {
            "startUrls": [site.url("/page/0")],
            "maxPages": SIZE * 2,
            "maxDepth": 100,
            "concurrency": CONCURRENCY,
            "shards": shards,
        }
    )
    job_id = service.submit(spec)
    frontier = Frontier(service.store.client, job_id, service.store.ttl_seconds)
    started = time.monotonic()
    samples: Samples = []
    used_before: dict[int, float] = {}
    worker_cpu_seconds(used_before)
    used = dict(used_before)
    while (status := service.status(job_id)) is None or not status.state.finished:
        samples.append((time.monotonic() - started, frontier.pages_by_shard()))
        worker_cpu_seconds(used)
        time.sleep(0.1)
    assert status.result is not None, status.error
    cpu = sum(used.values()) - sum(used_before.values())
    return site.page_requests()[before:], samples, status.result["pages"], cpu


def resume_refetches(site: StaticSite) -> tuple[int, int, float]:
    """A 1-shard job whose worker is killed at `RESUME_KILL_AT` of the site: the pages it
    reports, the page requests beyond the first of each, and the seconds it was stopped."""
    before = len(site.page_requests())
    with tempfile.TemporaryDirectory() as scratch:
        fleet = Fleet(Path(scratch))
        try:
            victim = fleet.start_worker(VICTIM, concurrency=1)
            spec = JobSpec.model_validate(
                {"startUrls": [site.url("/page/0")], "maxPages": SIZE * 2, "maxDepth": 100, "concurrency": CONCURRENCY}
            )
            watch = Watch(fleet.service, fleet.service.submit(spec))
            watch.until(lambda s: s.progress.pages >= SIZE * RESUME_KILL_AT, 300, "the crawl to be under way")
            killed = time.monotonic()
            victim.kill()
            fleet.start_worker(SURVIVOR, concurrency=1)
            wait_until(lambda: watch.poll().progress.pages > SIZE * RESUME_KILL_AT + CONCURRENCY, 120, "the resume")
            stopped = time.monotonic() - killed
            final = watch.finished(600)
        finally:
            fleet.stop()
    assert final.state is JobState.SUCCESS, final.error
    return final.progress.pages, site.refetched(site.page_requests()[before:]), stopped


def plot(runs: dict[str, Samples]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 4.5))
    for label, samples in runs.items():
        shards = sorted({shard for _, counts in samples for shard in counts})
        for shard in shards:
            axes.plot(
                [t for t, _ in samples],
                [counts.get(shard, 0) for _, counts in samples],
                label=f"{label}, shard {shard}",
            )
    axes.set_xlabel("seconds since submission")
    axes.set_ylabel("pages fetched")
    axes.set_title(f"Pages over time per shard, {SIZE}-page site, concurrency {CONCURRENCY}")
    axes.legend()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "frontier-shards.png"
    figure.savefig(path, dpi=100, bbox_inches="tight")
    return path


def main() -> None:
    site = StaticSite(SIZE)
    try:
        plain, plain_cpu = plain_scrapy(site)
        with running_platform(concurrency=2) as service:
            one, one_samples, one_pages, one_cpu = job_run(service, site, shards=1)
            two, two_samples, two_pages, two_cpu = job_run(service, site, shards=2)
        resumed_pages, refetched, stopped = resume_refetches(site)
    finally:
        site.stop()
    path = plot({"1 shard": one_samples, "2 shards": two_samples})
    print(f"site: {SIZE} pages served by nginx; concurrency {CONCURRENCY}")
    plain_pages = len({path for _, path in plain})
    print(
        f"baseline, plain scrapy runspider of JobSpider: {plain_pages} pages, {rate(plain):.1f} pages/s,"
        f" {1000 * plain_cpu / plain_pages:.1f} CPU s per 1000 pages"
    )
    print(
        f"1 shard:  {one_pages} pages, {rate(one):.1f} pages/s, {rate(one) / rate(plain):.2f}x of plain Scrapy;"
        f" {1000 * one_cpu / one_pages:.1f} CPU s per 1000 pages (worker and crawl), {one_cpu / plain_cpu:.2f}x"
    )
    print(
        f"2 shards: {two_pages} pages, {rate(two):.1f} pages/s, {rate(two) / rate(one):.2f}x of 1 shard;"
        f" {1000 * two_cpu / two_pages:.1f} CPU s per 1000 pages, {two_cpu / one_cpu:.2f}x of 1 shard's"
    )
    print(f"  load average over the last minute at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"resume: worker SIGKILLed at {RESUME_KILL_AT:.0%}, {resumed_pages} pages in the end,"
        f" {refetched} fetched twice ({100 * refetched / SIZE:.1f} % of the site);"
        f" crawling again {stopped:.0f} s after the kill"
    )
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
