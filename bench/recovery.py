"""A worker lost mid-crawl: 10 jobs on 2 workers with the shipped defaults (time
limits, visibility timeout, heartbeat and restore settings), one worker's whole
process group SIGKILLed while every job is crawling. Prints what a user counts:
jobs submitted, finished and lost, items a cursor reader got twice, live jobs run
twice, and the seconds from the kill until each of the killed worker's jobs was back
in its queue. Figures only; never pass/fail.

The comparison is kombu's own restore, the only one before: it puts an
unacknowledged task back only once it is older than the visibility timeout
(`CRAWLFLEET_VISIBILITY_TIMEOUT_SECONDS`, 4,200 s shipped). That baseline is the
configured figure, not measured in this run: measuring it would take 70 minutes, and
the fleet's restore, which no setting turns off, would overtake it anyway.
Run: `python -m bench.recovery` (or through `python -m bench`)."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from tests.harness.ports import wait_until
from tests.harness.worker_loss import Fleet, HeldChains, WorkerLoss

JOBS = 10
PAGES = 20


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        fleet = Fleet(Path(scratch))
        site = HeldChains(held_from=2)
        try:
            loss = WorkerLoss.start(fleet, site, JOBS, PAGES)
            loss.kill_mid_crawl()
            wait_until(loss.all_redelivered, 120, "the killed worker's jobs to go back to their queue")
            site.release()
            wait_until(loss.all_finished, 300, "every job to finish", interval=0.2)
            figures = loss.figures()
        finally:
            site.stop()
            fleet.stop()
    seconds = figures.redelivery_seconds
    print(f"{'jobs submitted':>28}: {figures.submitted}")
    print(f"{'jobs finished (SUCCESS)':>28}: {figures.finished}")
    print(f"{'jobs lost':>28}: {figures.lost}")
    print(f"{'jobs of the killed worker':>28}: {figures.killed_workers_jobs}")
    print(f"{'items read twice by cursor':>28}: {figures.duplicated_items}")
    print(f"{'live jobs run twice':>28}: {figures.live_jobs_run_twice}")
    print(
        f"{'seconds to redelivery':>28}: min {min(seconds):.1f}, median {statistics.median(seconds):.1f},"
        f" max {max(seconds):.1f} ({', '.join(f'{s:.1f}' for s in seconds)})"
    )
    visibility_timeout = int(fleet.env["CRAWLFLEET_VISIBILITY_TIMEOUT_SECONDS"])
    print(
        f"{'baseline':>28}: kombu's visibility-timeout restore, {visibility_timeout} s (configured, not measured);"
        f" the slowest redelivery here is {visibility_timeout / max(seconds):.0f}x sooner"
    )


if __name__ == "__main__":
    main()
