"""Probes for Kubernetes: /healthz says the process serves, /readyz that it can
also reach every Redis database a request needs."""

from __future__ import annotations

import logging
from typing import Annotated

import redis
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from crawlfleet_api.deps import app_state
from crawlfleet_api.schemas import Readiness

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


RedisProbesDep = Annotated[dict[str, redis.Redis], Depends(app_state("redis_probes"))]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: answers as long as the process serves requests, whatever Redis does,
    so that an outage of Redis does not make Kubernetes restart every API pod."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(probes: RedisProbesDep) -> JSONResponse:
    """Readiness: 200 when the broker, the result backend and the job store all
    answer PING, 503 naming the one that does not.

    The answer is open to anyone, so it names the failing database and the kind of
    error only; the error itself, which tells the Redis host, goes to the log."""
    checks: dict[str, str] = {}
    for name, client in probes.items():
        try:
            client.ping()
        except redis.RedisError as error:
            logger.warning("readiness: %s unreachable: %s", name, error)
            checks[name] = f"unreachable ({type(error).__name__})"
        else:
            checks[name] = "ok"
    ready = all(result == "ok" for result in checks.values())
    body = Readiness(status="ready" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(by_alias=True), status_code=200 if ready else 503)
