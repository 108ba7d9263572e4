"""/v1/pools: the worker fleet as the operator last reported it, and each queue's load now.

Read from the broker's Redis, where the operator reports its WorkerPools, so the
API needs no Kubernetes client. Numbers only: nothing here names a job or a tenant."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from crawlfleet_api.deps import SettingsDep, require
from crawlfleet_api.routes.jobs import UNAUTHORIZED, UNAVAILABLE
from crawlfleet_api.schemas import PoolsBoard, QueueLoad
from crawlfleet_api.tokens import Role
from crawlfleet_core.clock import now
from crawlfleet_core.store.pools import pool_reports
from crawlfleet_core.store.queues import QueueGauge, broker_client

router = APIRouter(prefix="/v1/pools", tags=["pools"], dependencies=[Depends(require(Role.SUBMIT))])


@router.get("", responses={**UNAUTHORIZED, **UNAVAILABLE})
async def list_pools(settings: SettingsDep) -> PoolsBoard:
    """The WorkerPools the operator manages (empty where none runs), and the load of their queues."""
    client = broker_client(settings.broker_url, settings.redis_sentinel_master)
    try:
        reports = await pool_reports(client, now())
        queues = sorted({settings.default_queue, *(report.spec.queue for report in reports)})
        depths = await QueueGauge(client).depths(queues)
    finally:
        await client.aclose()
    return PoolsBoard(
        pools=reports,
        queues=[
            QueueLoad(queue=queue, queued=depth.waiting, in_flight=depth.in_flight) for queue, depth in depths.items()
        ],
    )
