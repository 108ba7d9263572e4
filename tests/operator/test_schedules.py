"""When scheduled runs are due, what they are called, and which are kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from crawlfleet_core.resources.scrapejobs import ScrapeJobSpec
from crawlfleet_operator import schedules

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_nothing_is_due_before_the_first_tick() -> None:
    assert schedules.due_run("*/5 * * * *", T0, T0 + timedelta(minutes=4, seconds=59)) is None


def test_a_tick_is_due_at_its_minute() -> None:
    assert schedules.due_run("*/5 * * * *", T0, T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=5)


def test_missed_ticks_collapse_into_the_latest() -> None:
    assert schedules.due_run("*/5 * * * *", T0, T0 + timedelta(minutes=17)) == T0 + timedelta(minutes=15)


def test_a_tick_is_due_once() -> None:
    tick = T0 + timedelta(minutes=5)
    assert schedules.due_run("*/5 * * * *", tick, tick + timedelta(seconds=30)) is None


def test_macros_work() -> None:
    assert schedules.due_run("@hourly", T0, T0 + timedelta(minutes=59)) is None
    assert schedules.next_run("@hourly", T0) == T0 + timedelta(hours=1)


def test_run_names_are_one_per_tick() -> None:
    tick = T0 + timedelta(minutes=5)
    assert schedules.run_name("nightly", tick) == schedules.run_name("nightly", tick + timedelta(seconds=30))
    assert schedules.run_name("nightly", tick) != schedules.run_name("nightly", tick + timedelta(minutes=1))


def test_history_keeps_the_newest_finished_runs_and_every_running_one() -> None:
    runs = [schedules.Run(f"run-{i}", T0 + timedelta(minutes=i), finished=i != 0) for i in range(5)]
    assert schedules.runs_to_delete(runs, 2) == ["run-2", "run-1"]
    assert schedules.runs_to_delete(runs, 10) == []
    assert "run-0" not in schedules.runs_to_delete(runs, 0)


def test_the_model_refuses_a_schedule_croniter_cannot_read() -> None:
    with pytest.raises(ValidationError, match="cron"):
        ScrapeJobSpec.model_validate({"startUrls": ["https://example.com/"], "schedule": "61 * * * *"})
