"""The operator's probes: `/healthz` (alive) and `/readyz` (reconciling), and the
`crawlfleet_operator_ready` gauge that alerts read.

kopf's own liveness endpoint answers 200 from the moment kopf started, whatever
happens next: an operator that cannot list its resources, reach Redis, or whose
watches never delivered its WorkerPools looks healthy while reconciling nothing.
So every `CHECK_INTERVAL_SECONDS` the operator checks, with its own credentials and
connections, what reconciling needs (`assess` turns the findings into a verdict):

- the API server lists its ScrapeJobs and WorkerPools where it watches them (the
  CRDs are served, its RBAC allows it, the API answers);
- Redis answers, on the broker and on the job store;
- unless it is a peering standby: every WorkerPool it was given has its autoscaling
  daemon running here, and each daemon polled within a few of its intervals. The
  chart always installs a pool, so this is the check that kopf itself reconciles.

A standby replica reconciles nothing by design and is ready: it takes over the moment
the active one leaves. Not alive means a restart would help: its resources are not
served (kopf does not watch for CRDs appearing later), the API refuses its
credentials, or a daemon stopped polling."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import kopf
import redis
from aiohttp import ClientError, web
from kubernetes_asyncio.client.exceptions import ApiException

from crawlfleet_core import clock
from crawlfleet_core.settings import get_settings
from crawlfleet_core.store.queues import broker_client
from crawlfleet_operator import cluster
from crawlfleet_operator.config import OperatorConfig, label_selector
from crawlfleet_operator.metrics import operator_ready

logger = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 5.0
CHECK_TIMEOUT_SECONDS = 4.0
# A verdict older than this many check intervals means the checks themselves are stuck.
STALE_CHECKS = 3
# A pool daemon is late after this many of its intervals (never less than the floor:
# a poll may wait out a Redis or API timeout), and stuck after the second number.
LATE_POLLS, STUCK_POLLS = 3, 12
LATE_FLOOR_SECONDS = 10.0
# How long a WorkerPool listed by the API may go without a daemon here: kopf needs a
# moment to list it and start one.
UNHANDLED_GRACE_SECONDS = 15.0
# HTTP answers of the API server that a restart can cure: the CRDs were missing when
# kopf looked, or the credentials expired.
RESTART_CURES = frozenset({401, 404})


class Polled(Protocol):
    """What the checks read of a pool daemon (`pool_handlers.Pool`)."""

    polled_at: float
    interval: float


@dataclass(frozen=True)
class Findings:
    """What one round of checks found; each problem is a sentence for the probe's body."""

    api_errors: Mapping[str, int | None] = field(default_factory=dict)  # problem -> HTTP status, None if unreachable
    redis_errors: tuple[str, ...] = ()
    standby: bool = False
    unhandled_pools: tuple[str, ...] = ()
    late_pools: tuple[str, ...] = ()
    stuck_pools: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    alive: bool
    ready: bool
    role: str
    problems: tuple[str, ...]

    def body(self) -> dict[str, Any]:
        return {"alive": self.alive, "ready": self.ready, "role": self.role, "problems": list(self.problems)}


STARTING = Verdict(alive=True, ready=False, role="starting", problems=("the first checks have not run yet",))


def assess(findings: Findings) -> Verdict:
    """Ready when nothing is wrong; alive unless a restart would cure what is."""
    problems = (
        *findings.api_errors,
        *findings.redis_errors,
        *(f"WorkerPool {pool} has no autoscaling daemon here" for pool in findings.unhandled_pools),
        *(f"WorkerPool {pool} has not been polled for several intervals" for pool in findings.late_pools),
    )
    curable = any(status in RESTART_CURES for status in findings.api_errors.values())
    return Verdict(
        alive=not curable and not findings.stuck_pools,
        ready=not problems,
        role="standby" if findings.standby else "active",
        problems=problems,
    )


def overdue(pools: Mapping[tuple[str, str], Polled], moment: float, polls: int) -> tuple[str, ...]:
    """The pools whose daemon has not finished a poll in `polls` of its intervals."""
    return tuple(
        f"{namespace}/{name}"
        for (namespace, name), pool in sorted(pools.items())
        if moment - pool.polled_at > max(polls * pool.interval, LATE_FLOOR_SECONDS)
    )


def standby(peers: Iterable[cluster.Peer], identity: str, priority: int, now: datetime) -> bool:
    """Whether kopf keeps this replica paused: another live peer ranks as high or higher."""
    return any(peer.identity != identity and peer.alive_until > now and peer.priority >= priority for peer in peers)


class Monitor:
    """Runs the checks in the background and answers the probes from the last verdict,
    so a probe never waits on a slow API server or Redis."""

    def __init__(self, memo: kopf.Memo, config: OperatorConfig, priority: int) -> None:
        self.memo = memo
        self.config = config
        self.priority = priority
        self.verdict = STARTING
        self.checked_at = time.monotonic()
        self.unhandled_since: dict[str, float] = {}
        # Clients of their own that fail fast, so that a hung Redis fails a check instead of stalling it.
        settings = get_settings()
        self.broker = broker_client(settings.broker_url, settings.redis_sentinel_master)
        self.job_store = broker_client(settings.job_store_url, settings.redis_sentinel_master)
        self._runner: web.AppRunner | None = None
        self._checking: asyncio.Task[None] | None = None

    async def start(self, port: int) -> None:
        app = web.Application()
        app.add_routes([web.get("/healthz", self._alive), web.get("/readyz", self._ready)])
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "0.0.0.0", port).start()  # noqa: S104 - the kubelet probes from outside the pod
        self._checking = asyncio.create_task(self._check_forever(), name="health checks")

    async def stop(self) -> None:
        if self._checking is not None:
            self._checking.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.broker.aclose()
        await self.job_store.aclose()

    async def _alive(self, _: web.Request) -> web.Response:
        return self._answer(self.verdict.alive)

    async def _ready(self, _: web.Request) -> web.Response:
        return self._answer(self.verdict.ready)

    def _answer(self, passed: bool) -> web.Response:
        stale = time.monotonic() - self.checked_at > STALE_CHECKS * CHECK_INTERVAL_SECONDS
        body = self.verdict.body() | ({"problems": ["the checks are stuck"]} if stale else {})
        return web.json_response(body, status=200 if passed and not stale else 503)

    async def _check_forever(self) -> None:
        while True:
            try:
                self.verdict = assess(await asyncio.wait_for(self.findings(), CHECK_TIMEOUT_SECONDS))
            except TimeoutError:
                self.verdict = Verdict(alive=True, ready=False, role=self.verdict.role, problems=("checks timed out",))
            except Exception as error:  # a check that breaks must not end the checking
                logger.exception("the health checks failed")
                self.verdict = Verdict(
                    alive=True, ready=False, role=self.verdict.role, problems=(f"checks failed: {error}",)
                )
            self.checked_at = time.monotonic()
            operator_ready.set(int(self.verdict.ready))
            await asyncio.sleep(CHECK_INTERVAL_SECONDS)

    async def findings(self) -> Findings:
        api: Any = self.memo.get("api")
        pools: dict[tuple[str, str], Polled] = self.memo.get("pools", {})
        if api is None:
            return Findings(api_errors={"not connected to the API server yet": None})
        scope = cluster.Scope(api, tuple(self.config.namespaces), label_selector(self.config.release))
        listed, redis_errors, paused = await asyncio.gather(self._list(scope), self._redis_errors(), self._standby(api))
        api_errors, listed_pools = listed
        moment = time.monotonic()
        unhandled = () if paused else self._unhandled(listed_pools, pools, moment)
        return Findings(
            api_errors=api_errors,
            redis_errors=redis_errors,
            standby=paused,
            unhandled_pools=unhandled,
            late_pools=overdue(pools, moment, LATE_POLLS),
            stuck_pools=overdue(pools, moment, STUCK_POLLS),
        )

    async def _list(self, scope: cluster.Scope) -> tuple[dict[str, int | None], list[str]]:
        errors: dict[str, int | None] = {}
        pools: list[str] = []
        for plural in (cluster.SCRAPEJOBS, cluster.WORKERPOOLS):
            try:
                # Every WorkerPool, to match them with the daemons; of ScrapeJobs, that they can be listed.
                items = await scope.objects(plural, limit=None if plural == cluster.WORKERPOOLS else 1)
            except ApiException as error:
                errors[f"listing {plural}: {error.status} {cluster.message(error)}"] = error.status
            except (ClientError, OSError) as error:
                errors[f"listing {plural}: {error}"] = None
            else:
                if plural == cluster.WORKERPOOLS:
                    pools = [f"{item['metadata']['namespace']}/{item['metadata']['name']}" for item in items]
        return errors, pools

    async def _redis_errors(self) -> tuple[str, ...]:
        errors = []
        for name, client in (("broker", self.broker), ("job store", self.job_store)):
            try:
                await client.ping()
            except (redis.RedisError, OSError) as error:
                errors.append(f"Redis {name}: {error}")
        return tuple(errors)

    async def _standby(self, api: Any) -> bool:
        if not self.config.peering:
            return False
        namespace = self.config.namespaces[0] if self.config.namespaces else None
        try:
            peers = await cluster.peers(api, self.config.peering, namespace)
        except (ApiException, ClientError, OSError):
            return self.verdict.role == "standby"  # unknown: the listing check reports the API's trouble
        return standby(peers, self.config.pod_id, self.priority, clock.now())

    def _unhandled(
        self, listed: Collection[str], pools: Mapping[tuple[str, str], Polled], moment: float
    ) -> tuple[str, ...]:
        """Listed pools without a daemon here for longer than the grace kopf needs to start one."""
        missing = set(listed) - {f"{namespace}/{name}" for namespace, name in pools}
        self.unhandled_since = {pool: self.unhandled_since.get(pool, moment) for pool in missing}
        return tuple(
            sorted(pool for pool, since in self.unhandled_since.items() if moment - since > UNHANDLED_GRACE_SECONDS)
        )


@kopf.on.startup()
async def start_health(memo: kopf.Memo, **_: Any) -> None:
    config: OperatorConfig | None = memo.get("config")
    if config is None or not config.health_port:
        return
    monitor = Monitor(memo, config, memo.get("priority", 0))
    await monitor.start(config.health_port)
    memo.health = monitor


@kopf.on.cleanup()
async def stop_health(memo: kopf.Memo, **_: Any) -> None:
    monitor: Monitor | None = memo.get("health")
    if monitor is not None:
        await monitor.stop()
