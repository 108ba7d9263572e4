"""What the operator last saw and decided for each WorkerPool, kept in the broker's
Redis beside the queues it measures, so that the API and the dashboard can show the
fleet without a Kubernetes client (which only the operator may use).

The operator rewrites a pool's report at every poll and removes it when it stops
managing the pool; a report older than a few polls is from an operator that died
and is left out."""

from __future__ import annotations

from datetime import datetime, timedelta

import redis.asyncio as aioredis

from crawlfleet_core.model.base import CamelModel
from crawlfleet_core.resources.workerpools import WorkerPoolSpec, WorkerPoolStatus
from crawlfleet_core.store import keys

MISSED_POLLS_BEFORE_STALE = 3
MIN_STALE_SECONDS = 30


class PoolReport(CamelModel):
    namespace: str
    name: str
    spec: WorkerPoolSpec
    status: WorkerPoolStatus
    reported_at: datetime

    def stale(self, moment: datetime) -> bool:
        patience = max(MIN_STALE_SECONDS, MISSED_POLLS_BEFORE_STALE * self.spec.poll_interval_seconds)
        return moment - self.reported_at > timedelta(seconds=patience)


def _field(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


async def publish_pool_report(client: aioredis.Redis, report: PoolReport) -> None:
    await client.hset(keys.pool_reports(), _field(report.namespace, report.name), report.model_dump_json(by_alias=True))


async def withdraw_pool_report(client: aioredis.Redis, namespace: str, name: str) -> None:
    await client.hdel(keys.pool_reports(), _field(namespace, name))


async def pool_reports(client: aioredis.Redis, moment: datetime) -> list[PoolReport]:
    """The fresh reports, by namespace and name."""
    stored = await client.hgetall(keys.pool_reports())
    reports = [PoolReport.model_validate_json(value) for value in stored.values()]
    return sorted(
        (report for report in reports if not report.stale(moment)), key=lambda report: (report.namespace, report.name)
    )
