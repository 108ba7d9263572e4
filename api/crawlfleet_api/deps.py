"""Dependencies of the routes, as `Annotated` aliases: the settings and job
service the app was built with, and the caller a bearer token identifies."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, cast

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crawlfleet_api.config import ApiSettings
from crawlfleet_api.idempotency import IdempotencyKeys
from crawlfleet_api.metrics import ApiMetrics
from crawlfleet_core.service import JobService

# Without tokens configured every caller is this one, so idempotency keys still
# have a scope to live in.
ANONYMOUS = "anonymous"


def _settings(request: Request) -> ApiSettings:
    return cast(ApiSettings, request.app.state.settings)


def _job_service(request: Request) -> JobService:
    return cast(JobService, request.app.state.job_service)


def _idempotency_keys(request: Request) -> IdempotencyKeys:
    return cast(IdempotencyKeys, request.app.state.idempotency_keys)


def _metrics(request: Request) -> ApiMetrics:
    return cast(ApiMetrics, request.app.state.metrics)


SettingsDep = Annotated[ApiSettings, Depends(_settings)]
JobServiceDep = Annotated[JobService, Depends(_job_service)]
IdempotencyKeysDep = Annotated[IdempotencyKeys, Depends(_idempotency_keys)]
MetricsDep = Annotated[ApiMetrics, Depends(_metrics)]

# auto_error is off because FastAPI's own error does not say which header to send
# and is not raised at all when tokens are not configured.
bearer = HTTPBearer(auto_error=False, description="One of the tokens in CRAWLFLEET_API_TOKENS.")


def authenticate(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    """The caller's identity: a digest of its token, never the token itself."""
    if not settings.api_tokens:
        return ANONYMOUS
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required: send the header 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="crawlfleet"'},
        )
    presented = credentials.credentials.encode()
    # Every token is compared, in constant time each, so the answer's timing
    # tells neither which token nearly matched nor how much of it.
    matches = [hmac.compare_digest(presented, token.encode()) for token in settings.api_tokens]
    if not any(matches):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="crawlfleet", error="invalid_token"'},
        )
    return hashlib.sha256(presented).hexdigest()[:16]


CallerDep = Annotated[str, Depends(authenticate)]
