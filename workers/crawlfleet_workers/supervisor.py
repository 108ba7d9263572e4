"""Run one crawl in a forked process and watch over it.

A Twisted reactor cannot be restarted, so a worker that ran one crawl in-process
could never run a second. Each crawl therefore runs in a child forked from the
Celery pool process. The worker imported Scrapy before forking its pool (see
`crawlfleet_workers.app`), so the fork costs milliseconds where a fresh
interpreter would pay about a second of imports. The child dies with its parent
(PR_SET_PDEATHSIG), so revoking or killing the task's process ends the crawl and
nothing else. The child reports progress and its final stats as JSON lines on a
pipe (`send_report`); its items go straight to the job's Redis stream, its log to
the job's log."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.status import Progress
from crawlfleet_core.settings import Settings
from crawlfleet_workers.eggs import ProjectCode

STOP_GRACE_SECONDS = 20
PR_SET_PDEATHSIG = 1


@dataclass
class CrawlOutcome:
    stats: dict[str, Any] | None
    """The crawl's final stats; None when its process died without reporting."""
    exit_description: str
    timed_out: bool = False
    error: str | None = None
    failure: str | None = None
    """The traceback of a crawl that could not start because of the job's own code or arguments."""


def describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.WEXITSTATUS(status)}"


def send_report(fd: int, report: dict[str, Any]) -> None:
    """One report from the crawl to its supervisor: `progress`, `stats`, `failed` or `error`."""
    os.write(fd, json.dumps(report).encode() + b"\n")


def run_crawl(
    job_id: str,
    spec: JobSpec,
    settings: Settings,
    on_progress: Callable[[Progress], None],
    project: ProjectCode | None = None,
    shard: int = 0,
) -> CrawlOutcome:
    """Crawl (the job's `shard`) in a child process; call `on_progress` as reports
    arrive; return how it ended.

    `project` is the code of the project whose spider the job runs: only the child loads it."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child_main(job_id, spec, settings, write_fd, project, shard)
    os.close(write_fd)
    stats: dict[str, Any] | None = None
    error: str | None = None
    failure: str | None = None
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
                    failure = report.get("failed", failure)
            except SoftTimeLimitExceeded:
                # Ask Scrapy to close cleanly, and kill it if it will not.
                timed_out = True
                os.kill(pid, signal.SIGTERM)
                kill_at = time.monotonic() + STOP_GRACE_SECONDS
    _, status = os.waitpid(pid, 0)
    return CrawlOutcome(
        stats=stats, exit_description=describe_exit(status), timed_out=timed_out, error=error, failure=failure
    )


def _child_main(
    job_id: str, spec: JobSpec, settings: Settings, write_fd: int, project: ProjectCode | None, shard: int
) -> None:
    """The forked crawl process. Never returns: it must not run the pool's code."""
    code = 1
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)
        for signum in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        # Imported here rather than at the top: Flower loads the task modules too,
        # and only a worker has Scrapy preloaded, so this costs the fork nothing.
        from crawlfleet_workers.crawling import crawl

        crawl(job_id, spec, settings, write_fd, project, shard)
        code = 0
    except BaseException:
        traceback.print_exc()
        with contextlib.suppress(OSError):  # the parent may be gone already
            send_report(write_fd, {"error": traceback.format_exc(limit=3)})
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
