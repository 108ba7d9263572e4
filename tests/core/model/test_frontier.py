"""The termination rule of a crawl whose frontier several shards share."""

from __future__ import annotations

import pytest

from crawlfleet_core.model.frontier import BUDGET_SPENT_REASON, FINISHED_REASON, FrontierCounts, finish_reason

LIMIT = 100


def counts(*, pages: int = 10, slots: int = 0, held: int = 0, waiting: int = 0) -> FrontierCounts:
    return FrontierCounts(pages=pages, slots=slots, held=held, waiting=waiting)


def test_the_crawl_has_ended_when_nothing_waits_and_nothing_is_in_flight() -> None:
    assert finish_reason(counts(), LIMIT) == FINISHED_REASON


@pytest.mark.parametrize(
    "state",
    [
        counts(held=1, slots=1),  # a shard is fetching a page
        counts(held=1),  # a shard is parsing a page that may add links
        counts(waiting=3),  # requests wait for a shard to take them
        counts(held=2, waiting=3),
    ],
)
def test_the_crawl_goes_on_while_any_shard_holds_a_request_or_any_waits(state: FrontierCounts) -> None:
    assert finish_reason(state, LIMIT) is None


def test_a_spent_budget_ends_the_crawl_once_the_pages_fetched_are_processed() -> None:
    assert finish_reason(counts(pages=LIMIT, held=2, waiting=50), LIMIT) is None
    assert finish_reason(counts(pages=LIMIT, waiting=50), LIMIT) == BUDGET_SPENT_REASON
    assert finish_reason(counts(pages=LIMIT), LIMIT) == FINISHED_REASON
