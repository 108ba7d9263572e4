"""How long a one-page job waits, from `submit()` to its first HTTP request, on an
idle worker. Prints figures; never pass/fail.

The baseline, measured in the same run, is what a design that starts a fresh
interpreter per crawl pays before it can send anything: importing the crawl code
(Scrapy, Twisted) in a new Python process. Run: `python -m bench.first_request`."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from bench.crawl_platform import running_platform
from bench.figures import percentile
from crawlfleet_core.model.jobs import JobSpec
from tests.harness.website import Website

TRIALS = 20


def fresh_interpreter_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import crawlfleet_workers.crawling"], check=True)
    return time.perf_counter() - start


def main() -> None:
    site = Website()
    try:
        with running_platform() as service:
            first_request: list[float] = []
            total: list[float] = []
            submit_call: list[float] = []
            for trial in range(TRIALS):
                path = f"/page/{trial % site.size}"
                spec = JobSpec.model_validate(
                    {"startUrls": [site.url(path)], "followLinks": False, "obeyRobotsTxt": False}
                )
                before = len(site.requests)
                submitted = time.time()
                job_id = service.submit(spec)
                submit_call.append(time.time() - submitted)
                while True:
                    status = service.status(job_id)
                    if status is not None and status.state.finished:
                        break
                    time.sleep(0.005)
                total.append(time.time() - submitted)
                first_request.append(site.requests[before][0] - submitted)
                time.sleep(0.2)  # an idle worker for the next trial
            baseline = statistics.median(fresh_interpreter_seconds() for _ in range(5))
    finally:
        site.stop()
    p50, p95 = percentile(first_request, 0.5), percentile(first_request, 0.95)
    print(f"submit -> first HTTP request, one-page job, idle worker, {TRIALS} trials:")
    print(f"  p50 {p50 * 1000:.0f} ms   p95 {p95 * 1000:.0f} ms")
    submit_p50 = percentile(submit_call, 0.5) * 1000
    print(f"submit() itself (record + publish, what POST /v1/jobs waits for): p50 {submit_p50:.1f} ms")
    print(f"submit -> SUCCESS visible:  p50 {percentile(total, 0.5) * 1000:.0f} ms")
    print(f"baseline, fresh interpreter importing the crawl code: {baseline * 1000:.0f} ms")
    print(f"ratio baseline / p50 first request: {baseline / p50:.1f}x")


if __name__ == "__main__":
    main()
