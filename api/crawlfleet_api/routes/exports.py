"""/v1/jobs/{id}/items.jsonl and .csv: a job's items as a file, streamed from Redis
a batch at a time, so a job of 100k items costs the API one batch of memory."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from crawlfleet_api.deps import CallerDep, JobServiceDep, require
from crawlfleet_api.exports import Batches, csv_chunks, download_name, jsonl_chunks
from crawlfleet_api.routes.jobs import NOT_FOUND, UNAUTHORIZED, UNAVAILABLE, JobId, job_not_found
from crawlfleet_api.tokens import Caller, Role
from crawlfleet_core.service import JobService

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require(Role.SUBMIT))])

BATCH_SIZE = 1000


def _batches(service: JobService, job_id: str, caller: Caller) -> Batches:
    """The job's item batches, once the caller is known to see the job (a 404 otherwise)."""
    record = service.record(job_id)
    if record is None or not caller.sees(record.tenant):
        raise job_not_found(job_id)
    return partial(service.store.item_batches, job_id, BATCH_SIZE)


def _attachment(job_id: str, extension: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{download_name(job_id, extension)}"'}


@router.get(
    "/{job_id}/items.jsonl",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}, **UNAUTHORIZED, **NOT_FOUND, **UNAVAILABLE},
)
def download_jsonl(job_id: JobId, service: JobServiceDep, caller: CallerDep) -> StreamingResponse:
    """Every item stored now, one JSON object per line, oldest first."""
    batches = _batches(service, job_id, caller)
    return StreamingResponse(
        jsonl_chunks(batches), media_type="application/x-ndjson", headers=_attachment(job_id, "jsonl")
    )


@router.get(
    "/{job_id}/items.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **UNAUTHORIZED, **NOT_FOUND, **UNAVAILABLE},
)
def download_csv(job_id: JobId, service: JobServiceDep, caller: CallerDep) -> StreamingResponse:
    """Every item stored now as CSV: a column per field any item has (`url` first); lists and
    objects are written as JSON."""
    batches = _batches(service, job_id, caller)
    return StreamingResponse(
        csv_chunks(batches), media_type="text/csv; charset=utf-8", headers=_attachment(job_id, "csv")
    )
