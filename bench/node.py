"""The platform on a real node (tests/harness/node.py): how long a platform team
waits for `helm install`, and how fast the WorkerPool turns a burst of jobs into
worker pods that take them. Prints figures; never pass/fail.

1. Cluster start: from nothing to a node that runs pods (CoreDNS Ready), images
   imported (they are built beforehand, untimed); then `helm install` (the chart's
   defaults, the node's images) until every pod is Ready: Redis, 2 API, Flower,
   the operator, 1 worker.
2. A burst of 20 jobs through the API (each a crawl of 10 slow pages of the test
   site, one after the other: about 5 s of waiting on the site) on the default pool (one idle worker,
   concurrency 4, up to 10 pods): time until the first worker pod that did not
   exist before the burst takes a task (the time Celery logged it, in that pod),
   and until all 20 are done (the latest `finishedAt`).

One trial each: a trial is minutes of a shared 2-core machine. Run:
`python -m bench.node` (or through `python -m bench`)."""

from __future__ import annotations

import datetime
import re
import tempfile
import time
from pathlib import Path

from tests.harness.helm import Helm
from tests.harness.node import NodeCluster, node_binaries, node_images
from tests.harness.release import DEFAULT_PODS, Release, submit, wait_finished

BURST = 20
# Celery's log line for a task a worker took, with the worker's own timestamp (UTC).
TAKEN = re.compile(
    r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/MainProcess\] Task crawlfleet\.crawl\[[0-9a-f-]+\] received"
)


def logged_at(stamp: str) -> float:
    moment = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def first_take_by_new_pod(release: Release, before: set[str], since: float, timeout: float) -> tuple[str, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pod in set(release.worker_pods()) - before:
            stamps = TAKEN.findall(release.logs(pod))
            if stamps:
                return pod, logged_at(stamps[0]) - since
        time.sleep(0.5)
    raise RuntimeError(f"no new worker pod took a task within {timeout}s:\n{release.describe_pods()}")


def main() -> None:
    # Built (or found in the cache) before anything is timed.
    node_binaries()
    node_images()
    with tempfile.TemporaryDirectory() as scratch:
        started = time.monotonic()
        cluster = NodeCluster.start(Path(scratch) / "node")
        cluster_seconds = time.monotonic() - started
        try:
            started = time.monotonic()
            release = Release.install(cluster, Helm.find(), "crawlfleet", Path(scratch) / "values")
            release.wait_ready(DEFAULT_PODS, timeout=900)
            install_seconds = time.monotonic() - started
            before = set(release.worker_pods())
            spec = {"startUrls": [f"{cluster.site_url}/slow/0"], "maxPages": 10, "maxDepth": 100}
            with release.api() as api:
                burst_at = time.time()
                jobs = [submit(api, spec) for _ in range(BURST)]
                submitted_seconds = time.time() - burst_at
                new_pod, first_take = first_take_by_new_pod(release, before, burst_at, timeout=600)
                final = wait_finished(api, jobs, timeout=900)
                finished = [api.get(f"/v1/jobs/{job}").json()["finishedAt"] for job in jobs]
            done = max(datetime.datetime.fromisoformat(moment).timestamp() for moment in finished) - burst_at
            taken = {pod: len(ids & set(jobs)) for pod, ids in release.jobs_taken().items()}
        finally:
            cluster.stop()
    print("one node, shared 2-core machine, one trial each:")
    print(f"  cluster start (control plane, node, images imported, CoreDNS Ready): {cluster_seconds:.1f} s")
    print(f"  helm install -> every pod Ready {dict(DEFAULT_PODS)}: {install_seconds:.1f} s")
    print(f"burst of {BURST} jobs (10 slow pages each) on the default pool, 1 idle worker, concurrency 4:")
    print(f"  submitted through the API in {submitted_seconds:.2f} s")
    print(f"  -> first new worker pod taking a task ({new_pod}): {first_take:.1f} s")
    print(f"  -> all {BURST} done ({sorted(set(final.values()))}): {done:.1f} s")
    print(f"  jobs taken per worker pod ({len(taken)} pods): {sorted(taken.values(), reverse=True)}")


if __name__ == "__main__":
    main()
