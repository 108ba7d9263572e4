"""Answers for failures that are not the client's fault but are not bugs
either: Redis or the broker being unreachable, or Redis refusing writes because it
is full, is a 503 the client may retry, never a 500."""

from __future__ import annotations

import logging

import redis
from celery.exceptions import BackendError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError

from crawlfleet_core.service import PublishPendingError

logger = logging.getLogger(__name__)

# Redis errors that mean "not reachable now" (a ResponseError is a bug of ours
# and stays a 500); kombu raises OperationalError when the broker can't be
# reached; Celery's backend wraps what it could not read or store; a job another
# publisher has been publishing for too long is most likely held up by the broker.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    OperationalError,
    BackendError,
    PublishPendingError,
)
RETRY_AFTER_SECONDS = 5
# A full Redis frees memory as jobs expire, or when an operator raises its limit: minutes, not seconds.
FULL_RETRY_AFTER_SECONDS = 60


async def unavailable(request: Request, error: Exception) -> JSONResponse:
    logger.warning("%s %s: Redis unavailable: %r", request.method, request.url.path, error)
    return JSONResponse(
        {"detail": f"the job store or the broker (Redis) is unreachable; try again shortly ({type(error).__name__})"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def full(request: Request, error: Exception) -> JSONResponse:
    """Redis at its `maxmemory` with the `noeviction` policy refuses writes (an evicted
    key would be a lost job); nothing was submitted."""
    logger.warning("%s %s: Redis refuses writes: %s", request.method, request.url.path, error)
    return JSONResponse(
        {"detail": "the job store or the broker (Redis) is full and refuses new jobs; try again later"},
        status_code=503,
        headers={"Retry-After": str(FULL_RETRY_AFTER_SECONDS)},
    )


def install_error_handlers(app: FastAPI) -> None:
    for error_type in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error_type, unavailable)
    app.add_exception_handler(redis.exceptions.OutOfMemoryError, full)
