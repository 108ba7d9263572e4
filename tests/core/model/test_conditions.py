"""One rule sets a condition on every resource: its place, its transition time, its message bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crawlfleet_core.model.conditions import MAX_REASON_MESSAGE_LENGTH, Condition, set_condition

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_a_new_condition_is_appended_with_the_time_it_was_first_seen() -> None:
    [ready] = set_condition([], type_="Ready", status=True, reason="Submitted", now=T0, generation=1)
    assert (ready.status, ready.reason, ready.last_transition_time, ready.observed_generation) == (
        "True",
        "Submitted",
        T0,
        1,
    )


def test_the_transition_time_moves_only_when_the_status_does() -> None:
    first = set_condition([], type_="Ready", status="True", reason="A", message="one", now=T0, generation=1)
    same = set_condition(first, type_="Ready", status="True", reason="B", message="two", now=T1, generation=2)
    assert same[0].last_transition_time == T0, "same status: the condition has held since T0"
    assert (same[0].reason, same[0].message, same[0].observed_generation) == ("B", "two", 2)
    flipped = set_condition(same, type_="Ready", status=False, reason="C", now=T1, generation=2)
    assert flipped[0].last_transition_time == T1
    unknown = set_condition(flipped, type_="Ready", status="Unknown", reason="D", now=T1 + T1.resolution, generation=2)
    assert unknown[0].status == "Unknown" and unknown[0].last_transition_time > T1


def test_other_conditions_keep_their_place_and_values() -> None:
    conditions = set_condition([], type_="Ready", status=True, reason="A", now=T0, generation=1)
    conditions = set_condition(conditions, type_="Running", status=True, reason="A", now=T0, generation=1)
    conditions = set_condition(conditions, type_="Succeeded", status="Unknown", reason="A", now=T0, generation=1)
    updated = set_condition(conditions, type_="Running", status=False, reason="Done", now=T1, generation=1)
    assert [c.type for c in updated] == ["Ready", "Running", "Succeeded"]
    assert updated[0] == conditions[0] and updated[2] == conditions[2]


def test_a_long_message_is_cut_to_what_the_api_accepts() -> None:
    [condition] = set_condition(
        [], type_="Ready", status=False, reason="Error", message="x" * 5000, now=T0, generation=None
    )
    assert len(condition.message) == MAX_REASON_MESSAGE_LENGTH
    Condition.model_validate(condition.model_dump())
