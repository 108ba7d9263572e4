"""/v1/jobs: submit a job, follow it, read its items, cancel it."""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from crawlfleet_api.deps import (
    CallerDep,
    FeedsDep,
    IdempotencyKeysDep,
    JobServiceDep,
    MetricsDep,
    QueuesDep,
    SettingsDep,
    SubmittersDep,
    require,
)
from crawlfleet_api.errors import RETRY_AFTER_SECONDS
from crawlfleet_api.feeds import StreamLimitError
from crawlfleet_api.idempotency import IDEMPOTENCY_KEY_PATTERN, IdempotencyConflictError, IdempotencyKeys
from crawlfleet_api.metrics import ApiMetrics
from crawlfleet_api.queues import OTHER_QUEUE, KnownQueues
from crawlfleet_api.routing import AuthorizedRoute
from crawlfleet_api.schemas import JobAccepted, JobLinks, Problem
from crawlfleet_api.tokens import Caller, Role
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.states import JobState
from crawlfleet_core.model.status import ItemsPage, JobQuery, JobsPage, JobStatus
from crawlfleet_core.service import CancelConflictError, InvalidSpecError, JobService

router = APIRouter(
    prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require(Role.SUBMIT))], route_class=AuthorizedRoute
)

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No or a wrong bearer token."},
    403: {"model": Problem, "description": "The token lacks the role this needs."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No job of the caller's tenant has this id."}
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {503: {"model": Problem, "description": "Redis is unreachable."}}
# A cursor is a Redis stream id, `<milliseconds>-<sequence>`. Each part is held to 19
# digits, so that every cursor the schema admits fits the 64 bits Redis allows (it
# answers an error, not an empty page, past them); real ids have 13 and a few digits.
STREAM_ID_PATTERN = r"^[0-9]{1,19}-[0-9]{1,19}$"

JobId = Annotated[str, Path(min_length=1, max_length=255, description="The job id returned on submission.")]
Cursor = Annotated[
    str | None,
    Query(
        pattern=STREAM_ID_PATTERN,
        description="`nextCursor` of the previous page (a Redis stream id); omit it for the first page.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Most items in the page.")]
ListCursor = Annotated[
    str | None,
    Query(pattern=STREAM_ID_PATTERN, description="`nextCursor` of the previous page; omit it for the newest jobs."),
]
# RFC 3339, as the schema's `date-time` says: a time zone is required, and no Unix
# timestamp or other form pydantic would otherwise read as a time.
RFC3339_PATTERN = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def _rfc3339(value: object) -> object:
    if isinstance(value, str) and not RFC3339_PATTERN.match(value):
        raise ValueError("a time is RFC 3339 with its time zone, such as 2026-01-31T08:00:00Z")
    return value


Since = Annotated[
    datetime | None,
    Query(description="Only jobs submitted at or after this time (RFC 3339)."),
    BeforeValidator(_rfc3339),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Resending the same spec with the same key returns the job it created the first time "
        "instead of starting another; the same key with another spec is a 409.",
    ),
]


def links(request: Request, job_id: str) -> JobLinks:
    return JobLinks(
        self_=request.app.url_path_for("get_job", job_id=job_id),
        items=request.app.url_path_for("read_items", job_id=job_id),
        events=request.app.url_path_for("follow_job", job_id=job_id),
    )


def job_not_found(job_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no job with id {job_id!r}")


def status_or_404(service: JobService, job_id: str, caller: Caller) -> JobStatus:
    """The job's status, if the caller may see it: another tenant's job is a 404,
    so that ids do not even tell whether they exist."""
    current = service.status(job_id)
    if current is None or not caller.sees(current.tenant):
        raise job_not_found(job_id)
    return current


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **UNAUTHORIZED,
        409: {"model": Problem, "description": "The Idempotency-Key was used with another spec."},
        413: {"model": Problem, "description": "The body is larger than CRAWLFLEET_MAX_BODY_BYTES."},
        415: {"model": Problem, "description": "The body is not sent as `application/json`."},
        **UNAVAILABLE,
    },
)
async def submit_job(
    spec: JobSpec,
    request: Request,
    response: Response,
    service: JobServiceDep,
    idempotency_keys: IdempotencyKeysDep,
    metrics: MetricsDep,
    queues: QueuesDep,
    submitters: SubmittersDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
) -> JobAccepted:
    """Queue a crawl. The job runs in the background; follow it at `links.self`."""
    job_id, state = await anyio.to_thread.run_sync(
        partial(accept, service, idempotency_keys, metrics, queues, spec, caller, idempotency_key), limiter=submitters
    )
    job_links = links(request, job_id)
    response.headers["Location"] = job_links.self_
    return JobAccepted(id=job_id, state=state, links=job_links)


def accept(
    service: JobService,
    idempotency_keys: IdempotencyKeys,
    metrics: ApiMetrics,
    queues: KnownQueues,
    spec: JobSpec,
    caller: Caller,
    idempotency_key: str | None,
) -> tuple[str, JobState]:
    """Submit the job if its queue is known; its id and state, counted by queue and outcome."""
    if not queues.admits(spec.queue):
        metrics.submissions.labels(OTHER_QUEUE, "refused").inc()
        raise unknown_queue(spec.queue, queues.known())
    queue = queues.label(spec.queue)
    try:
        job_id, repeated = submit_once(service, idempotency_keys, spec, caller, idempotency_key)
    except IdempotencyConflictError as error:
        metrics.submissions.labels(queue, "conflict").inc()
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except InvalidSpecError as error:
        # Refused by the platform's settings rather than by the schema, but answered alike.
        detail = {"type": "value_error", "loc": ("body", error.field), "msg": error.message, "input": error.value}
        raise RequestValidationError([detail]) from None
    except BaseException:
        metrics.submissions.labels(queue, "failed").inc()
        raise
    metrics.submissions.labels(queue, "repeated" if repeated else "accepted").inc()
    # A new job was queued just now, so it is PENDING without asking Redis; a repeat
    # answers with the state of the job the first request created.
    current = service.status(job_id) if repeated else None
    return job_id, current.state if current else JobState.PENDING


def unknown_queue(queue: str, known: frozenset[str]) -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "type": "queue_unknown",
                "loc": ("body", "queue"),
                "msg": f"no worker pool serves queue {queue!r}; known queues: {', '.join(sorted(known))} "
                "(the platform's operators may allow more in CRAWLFLEET_EXTRA_QUEUES)",
                "input": queue,
                "ctx": {"known": sorted(known)},
            }
        ]
    )


def submit_once(
    service: JobService, idempotency_keys: IdempotencyKeys, spec: JobSpec, caller: Caller, key: str | None
) -> tuple[str, bool]:
    """Submit the job, or find the one an earlier request with the same
    Idempotency-Key created; the id, and whether it was such a repeat."""
    if key is None:
        return service.submit(spec, source="api", tenant=caller.tenant), False
    claim = idempotency_keys.claim(caller.identity, key, spec)
    try:
        return service.submit(spec, job_id=claim.job_id, source="api", tenant=caller.tenant), not claim.first
    except BaseException:
        # The submission left nothing behind; neither may the key, or a retry
        # with a corrected spec would be refused as a conflict.
        if claim.first:
            idempotency_keys.release(caller.identity, key)
        raise


@router.get("", responses={**UNAUTHORIZED, **UNAVAILABLE})
def list_jobs(
    service: JobServiceDep,
    caller: CallerDep,
    state: Annotated[list[JobState] | None, Query(description="Only jobs in these states (repeatable).")] = None,
    queue: Annotated[str | None, Query(max_length=63, description="Only jobs of this queue.")] = None,
    since: Since = None,
    tenant: Annotated[
        str | None, Query(max_length=63, description="An admin's choice of tenant; others always see their own.")
    ] = None,
    cursor: ListCursor = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Most jobs in the page.")] = 50,
) -> JobsPage:
    """The caller's jobs, newest first, a page at a time (an admin token sees every tenant's)."""
    if not caller.may(Role.ADMIN):
        tenant = caller.tenant
    query = JobQuery(tenant=tenant, states=frozenset(state or ()), queue=queue, since=since, cursor=cursor, limit=limit)
    return service.list_jobs(query)


@router.get("/{job_id}", responses={**UNAUTHORIZED, **NOT_FOUND, **UNAVAILABLE})
def get_job(job_id: JobId, service: JobServiceDep, caller: CallerDep) -> JobStatus:
    """The job's state, progress and, once finished, its result or error."""
    return status_or_404(service, job_id, caller)


@router.get(
    "/{job_id}/events",
    response_class=EventSourceResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "`status` events, each a JobStatus; a last `error` or `timeout` event says why a stream "
            "ended before the job did.",
        },
        **UNAUTHORIZED,
        **NOT_FOUND,
        429: {"model": Problem, "description": "The client holds CRAWLFLEET_EVENTS_MAX_STREAMS_PER_CLIENT streams."},
        **UNAVAILABLE,
    },
)
async def follow_job(
    job_id: JobId, request: Request, service: JobServiceDep, settings: SettingsDep, feeds: FeedsDep, caller: CallerDep
) -> EventSourceResponse:
    """Server-Sent Events: a `status` event now and at every change of the job's
    status (state or progress), ending after the one that shows it finished."""
    first = await run_in_threadpool(status_or_404, service, job_id, caller)
    # With tokens a client is its token; without, its address (all tokenless callers are one caller).
    client = caller.identity if settings.tokens else request.client.host if request.client else "unknown"
    try:
        stream = feeds.open(client, first)
    except StreamLimitError as error:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, str(error), headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        ) from None
    return EventSourceResponse(stream.events(), background=BackgroundTask(stream.close))


@router.get("/{job_id}/items", responses={**UNAUTHORIZED, **NOT_FOUND, **UNAVAILABLE})
def read_items(
    job_id: JobId, service: JobServiceDep, caller: CallerDep, cursor: Cursor = None, limit: Limit = 100
) -> ItemsPage:
    """A page of the job's items, oldest first. Items appear while the job runs."""
    record = service.record(job_id)
    if record is None or not caller.sees(record.tenant):
        raise job_not_found(job_id)
    return service.store.read_items(job_id, cursor, limit)


@router.delete(
    "/{job_id}",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **UNAUTHORIZED,
        **NOT_FOUND,
        409: {"model": Problem, "description": "The job already finished."},
        **UNAVAILABLE,
    },
)
def cancel_job(job_id: JobId, service: JobServiceDep, caller: CallerDep) -> JobStatus:
    """Cancel the job: a queued one never starts, a running crawl is terminated."""
    status_or_404(service, job_id, caller)
    try:
        cancelled = service.cancel(job_id)
    except CancelConflictError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    if cancelled is None:
        raise job_not_found(job_id)
    return cancelled
