"""/v1/jobs/{id}/log: a job's crawl log as text, all of it or followed as it grows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from crawlfleet_api.deps import CallerDep, JobLogsDep, JobServiceDep, SettingsDep, require
from crawlfleet_api.routes.jobs import NOT_FOUND, UNAUTHORIZED, UNAVAILABLE, JobId, status_or_404
from crawlfleet_api.tokens import Role
from crawlfleet_core.service import JobService
from crawlfleet_core.store.logs import JobLogs

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require(Role.SUBMIT))])

LINES_PER_READ = 1000
TEXT = "text/plain; charset=utf-8"


async def log_text(
    logs: JobLogs, job_id: str, service: JobService | None = None, poll_seconds: float = 0.5
) -> AsyncIterator[str]:
    """The job's log lines as they are stored; with a `service`, on as they come until the job ends."""
    position: str | None = None
    while True:
        lines = await run_in_threadpool(logs.read, job_id, position, LINES_PER_READ)
        if lines:
            position = lines[-1][0]
            yield "".join(f"{line}\n" for _, line in lines)
        if len(lines) == LINES_PER_READ:
            continue
        if service is None:
            return
        current = await run_in_threadpool(service.status, job_id)
        if current is None or current.state.finished:
            # The crawl stores its last lines before its job is finished: one more read has them all.
            service = None
            continue
        await anyio.sleep(poll_seconds)


@router.get(
    "/{job_id}/log",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/plain": {}}, "description": "The crawl's log, a line per record."},
        **UNAUTHORIZED,
        **NOT_FOUND,
        **UNAVAILABLE,
    },
)
async def read_log(
    job_id: JobId,
    service: JobServiceDep,
    logs: JobLogsDep,
    settings: SettingsDep,
    caller: CallerDep,
    follow: Annotated[bool, Query(description="Go on sending lines as they come, until the job ends.")] = False,
) -> StreamingResponse:
    """The job's crawl log (Scrapy's log at the job's LOG_LEVEL, INFO by default), oldest line first.
    The newest CRAWLFLEET_LOG_MAX_LINES_PER_JOB lines are kept, as long as the job."""
    await run_in_threadpool(status_or_404, service, job_id, caller)
    text = log_text(logs, job_id, service if follow else None, settings.events_poll_seconds)
    return StreamingResponse(text, media_type=TEXT)
