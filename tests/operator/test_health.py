"""What the operator's probes answer, from what its checks found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crawlfleet_operator.cluster import Peer
from crawlfleet_operator.health import LATE_FLOOR_SECONDS, Findings, assess, overdue, standby


def test_nothing_wrong_is_alive_and_ready() -> None:
    verdict = assess(Findings())
    assert (verdict.alive, verdict.ready, verdict.role, verdict.problems) == (True, True, "active", ())


def test_what_a_restart_cannot_cure_makes_it_unready_only() -> None:
    for findings in (
        Findings(api_errors={"listing scrapejobs: 403 forbidden": 403}),
        Findings(api_errors={"listing scrapejobs: connection refused": None}),
        Findings(redis_errors=("Redis broker: connection refused",)),
        Findings(unhandled_pools=("crawlfleet/pool",)),
        Findings(late_pools=("crawlfleet/pool",)),
    ):
        verdict = assess(findings)
        assert verdict.alive, findings
        assert not verdict.ready, findings
        assert verdict.problems, findings


def test_what_a_restart_cures_makes_it_dead() -> None:
    """Resources that were not served when kopf looked, refused credentials, a hung pool daemon."""
    for findings in (
        Findings(api_errors={"listing workerpools: 404 not found": 404}),
        Findings(api_errors={"listing workerpools: 401 Unauthorized": 401}),
        Findings(late_pools=("crawlfleet/pool",), stuck_pools=("crawlfleet/pool",)),
    ):
        assert not assess(findings).alive, findings


def test_a_standby_is_ready() -> None:
    verdict = assess(Findings(standby=True))
    assert (verdict.ready, verdict.role) == (True, "standby")


@dataclass
class Polled:
    polled_at: float
    interval: float


def test_a_pool_is_overdue_after_some_of_its_intervals_never_sooner_than_the_floor() -> None:
    pools = {
        ("ns", "fresh"): Polled(polled_at=99.0, interval=1.0),
        ("ns", "slow-but-fine"): Polled(polled_at=100.0 - 2 * 30.0, interval=30.0),
        ("ns", "late"): Polled(polled_at=100.0 - 4 * 30.0, interval=30.0),
        ("ns", "within-the-floor"): Polled(polled_at=100.0 - LATE_FLOOR_SECONDS + 1, interval=1.0),
    }
    assert overdue(pools, 100.0, 3) == ("ns/late",)


def test_a_replica_stands_by_while_a_live_peer_ranks_as_high_or_higher() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    alive, dead = now + timedelta(seconds=30), now - timedelta(seconds=1)
    me = Peer("me", priority=5, alive_until=alive)
    assert not standby([me], "me", 5, now)
    assert standby([me, Peer("older", priority=9, alive_until=alive)], "me", 5, now)
    assert standby([me, Peer("twin", priority=5, alive_until=alive)], "me", 5, now), "kopf pauses both"
    assert not standby([me, Peer("gone", priority=9, alive_until=dead)], "me", 5, now)
    assert not standby([me, Peer("newer", priority=1, alive_until=alive)], "me", 5, now)
