"""When a scheduled ScrapeJob creates its runs, how they are named, and which old
runs go. Times are UTC, as in a CronJob without a time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

from crawlfleet_core.resources import GROUP

SCHEDULE_LABEL = f"{GROUP}/schedule"


def next_run(schedule: str, after: datetime) -> datetime:
    """The first tick of `schedule` strictly after `after`."""
    return croniter(schedule, after.astimezone(UTC)).get_next(datetime)


def due_run(schedule: str, last: datetime, now: datetime) -> datetime | None:
    """The latest tick in (last, now], or None when none is due.

    Ticks missed while the operator was down collapse into one run, the latest,
    as a CronJob does: a crawl an hour late is worth one run, not sixty."""
    if next_run(schedule, last) > now:
        return None
    # Ticks fall on whole minutes; a second past `now` makes a tick at `now` itself count.
    return croniter(schedule, now.astimezone(UTC) + timedelta(seconds=1)).get_prev(datetime)


def run_name(parent: str, tick: datetime) -> str:
    """One name per tick, so a run created twice (after a restart) is refused by the API server as a duplicate."""
    return f"{parent}-{int(tick.timestamp()) // 60}"


@dataclass(frozen=True)
class Run:
    name: str
    created: datetime
    finished: bool


def runs_to_delete(runs: list[Run], history_limit: int) -> list[str]:
    """The finished runs beyond the newest `history_limit`; runs still going are never deleted."""
    finished = sorted((run for run in runs if run.finished), key=lambda run: run.created, reverse=True)
    return [run.name for run in finished[history_limit:]]
