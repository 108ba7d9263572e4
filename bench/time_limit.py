"""How far past its time limit a crawl runs when no page ever answers. Prints
figures; never pass/fail.

A job with `timeLimitSeconds` whose start page never answers, beside the baseline
measured in the same run: the same job on pages that answer, slowly enough that
the time limit ends it too. Both are timed from submission until the job shows
finished, so the baseline carries the same fork, startup and polling costs. A
crawl that waited for its hanging download would run until Scrapy's download
timeout (30 s) instead. Run: `python -m bench.time_limit`."""

from __future__ import annotations

import statistics

from bench.crawl_platform import run_job, running_platform
from crawlfleet_core.model.jobs import JobSpec
from tests.harness.website import HeldWebsite, Website

LIMIT_SECONDS = 3
TRIALS = 3


def crawl_of(site: Website, **fields: object) -> JobSpec:
    return JobSpec.model_validate({"startUrls": [site.url("/slow/0")], "timeLimitSeconds": LIMIT_SECONDS, **fields})


def main() -> None:
    hanging, answering = HeldWebsite(held_from=0), Website(slow_delay=0.5)
    hung: list[float] = []
    answered: list[float] = []
    errors: set[str | None] = set()
    try:
        with running_platform() as service:
            for _ in range(TRIALS):
                status, seconds = run_job(service, crawl_of(hanging))
                hung.append(seconds)
                errors.add(status.error)
                answered.append(run_job(service, crawl_of(answering, maxDepth=100, maxPages=1000))[1])
    finally:
        hanging.stop()
        answering.stop()
    hanging_p50, answering_p50 = statistics.median(hung), statistics.median(answered)
    print(f"timeLimitSeconds {LIMIT_SECONDS}, submit -> finished, median of {TRIALS}:")
    print(f"  start page never answers: {hanging_p50:.2f} s ({hanging_p50 - LIMIT_SECONDS:+.2f} s past the limit)")
    print(f"    the job's error: {' | '.join(sorted(map(str, errors)))}")
    print(f"  baseline, pages answering every 0.5 s: {answering_p50:.2f} s ({answering_p50 - LIMIT_SECONDS:+.2f} s)")
    print(f"ratio never answering / baseline: {hanging_p50 / answering_p50:.2f}x")


if __name__ == "__main__":
    main()
