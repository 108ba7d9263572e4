"""Answers for failures that are not the client's fault but are not bugs
either: Redis or the broker being unreachable is a 503 the client may retry,
never a 500."""

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


async def unavailable(request: Request, error: Exception) -> JSONResponse:
    logger.warning("%s %s: Redis unavailable: %r", request.method, request.url.path, error)
    return JSONResponse(
        {"detail": f"the job store or the broker (Redis) is unreachable; try again shortly ({type(error).__name__})"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install_error_handlers(app: FastAPI) -> None:
    for error_type in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error_type, unavailable)
