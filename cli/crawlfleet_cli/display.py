"""How the CLI shows jobs: Rich tables and a live progress bar on a terminal; the
same facts as plain lines when the output goes to a file or a pipe."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

PIPED_WIDTH = 1000

# Results on stdout, for scripts; progress and errors on stderr, for people. Piped
# output is never cut to a terminal's width: a script reads whole ids.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else PIPED_WIDTH)
err = Console(stderr=True)


def counts(job: dict[str, Any]) -> str:
    progress = job["progress"]
    return f"{progress['pages']} pages · {progress['items']} items · {progress['errors']} errors"


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def spider_of(job: dict[str, Any]) -> str:
    """`project/spider` of a project's job, `built-in` for the platform's spider."""
    return f"{job['project']}/{job['spider']}" if job.get("project") else "built-in"


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("ID", "STATE", "QUEUE", "SPIDER", "SUBMITTED", "PAGES", "ITEMS", "ERRORS", "%"):
        table.add_column(
            column,
            justify="right" if column in {"PAGES", "ITEMS", "ERRORS", "%"} else "left",
            overflow="fold",
            no_wrap=column != "ID",
        )
    for job in jobs:
        progress = job["progress"]
        table.add_row(
            job["id"],
            job["state"],
            job["queue"],
            spider_of(job),
            datetime.fromisoformat(job["submittedAt"]).strftime("%Y-%m-%d %H:%M:%S"),
            str(progress["pages"]),
            str(progress["items"]),
            str(progress["errors"]),
            f"{progress['percent']:.0f}",
        )
    return table


def projects_table(projects: list[dict[str, Any]]) -> Table:
    """The catalog: each project's versions (the latest last) and the spiders its jobs can run."""
    table = Table(box=None, pad_edge=False)
    for column in ("PROJECT", "SOURCE", "VERSIONS", "SPIDERS", "DEPLOYED"):
        table.add_column(column, overflow="fold")
    for project in projects:
        latest = project["versions"][-1] if project["versions"] else None
        if latest is not None:
            source = "deployed"
            versions = ", ".join(version["version"] for version in project["versions"])
            spiders = latest["spiders"]
            deployed = datetime.fromisoformat(latest["uploadedAt"]).strftime("%Y-%m-%d %H:%M:%S")
        else:
            source = "image of queue " + ", ".join(pool["queue"] for pool in project["installed"])
            versions, deployed = "—", "—"
            spiders = sorted({spider for pool in project["installed"] for spider in pool["spiders"]})
        table.add_row(project["name"], source, versions, ", ".join(spiders), deployed)
    return table


def summary(job: dict[str, Any]) -> Table:
    """A finished job at a glance: its state, counts, how long it ran and why it ended."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("job", job["id"])
    table.add_row("state", job["state"])
    table.add_row("progress", counts(job))
    took = seconds_between(job.get("startedAt"), job.get("finishedAt"))
    if took is not None:
        table.add_row("duration", f"{took:.1f} s")
    result = job.get("result") or {}
    if result.get("finish_reason"):
        table.add_row("finish reason", str(result["finish_reason"]))
    for label, text in (("error", job.get("error")), ("first error", result.get("first_error"))):
        if text:
            table.add_row(label, str(text))
    return table


class ProgressBar:
    """A job's live bar on stderr; where stderr is no terminal (a log, a CI job), one line
    per change of state instead. Nothing shows before the job's first status."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.progress = Progress(
            TextColumn("{task.description:<8}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=err,
        )
        self.task: TaskID | None = None
        self.state: str | None = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *_: object) -> None:
        if self.task is not None:
            self.progress.stop()

    def show(self, job: dict[str, Any]) -> None:
        if not err.is_terminal:
            if job["state"] != self.state:
                err.print(f"{self.job_id} {job['state']} {counts(job)}", highlight=False)
            self.state = job["state"]
            return
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task(job["state"], total=100, counts="")
        self.progress.update(
            self.task, description=job["state"], completed=job["progress"]["percent"], counts=counts(job)
        )
