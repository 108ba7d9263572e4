"""Dependencies of the routes, as `Annotated` aliases: the settings and job
service the app was built with, and the caller a bearer token identifies.

Every dependency here is `async def` although none awaits anything: FastAPI runs a
plain `def` dependency in its thread pool, and a hop to a thread and back for each
of them cost a submission more than its Redis writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, cast

from anyio import CapacityLimiter
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crawlfleet_api.config import ApiSettings
from crawlfleet_api.feeds import StatusFeeds
from crawlfleet_api.idempotency import IdempotencyKeys
from crawlfleet_api.metrics import ApiMetrics
from crawlfleet_api.queues import KnownQueues
from crawlfleet_api.tokens import ANONYMOUS, Caller, Role, identify
from crawlfleet_core.service import JobService


def app_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency on what the app factory put in `app.state.<name>`."""

    async def read(request: Request) -> Any:
        return getattr(request.app.state, name)

    return read


SettingsDep = Annotated[ApiSettings, Depends(app_state("settings"))]
JobServiceDep = Annotated[JobService, Depends(app_state("job_service"))]
IdempotencyKeysDep = Annotated[IdempotencyKeys, Depends(app_state("idempotency_keys"))]
MetricsDep = Annotated[ApiMetrics, Depends(app_state("metrics"))]
FeedsDep = Annotated[StatusFeeds, Depends(app_state("feeds"))]
QueuesDep = Annotated[KnownQueues, Depends(app_state("queues"))]
SubmittersDep = Annotated[CapacityLimiter, Depends(app_state("submitters"))]

# auto_error is off because FastAPI's own error does not say which header to send
# and is not raised at all when tokens are not configured.
bearer = HTTPBearer(auto_error=False, description="One of the tokens in CRAWLFLEET_API_TOKENS.")


async def authenticate(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    """The caller a bearer token speaks for; everyone is ANONYMOUS while tokens are off."""
    return caller_with(settings, credentials)


def caller_with(settings: ApiSettings, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    """The caller `credentials` identify, or a 401 saying what is wrong with them."""
    if not settings.tokens:
        return ANONYMOUS
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required: send the header 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="crawlfleet"'},
        )
    caller = identify(credentials.credentials, settings.tokens)
    if caller is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="crawlfleet", error="invalid_token"'},
        )
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]


async def caller_of(request: Request) -> Caller:
    """The caller of `request`, for code that runs before FastAPI resolves the dependencies."""
    return caller_with(cast(ApiSettings, request.app.state.settings), await bearer(request))


@dataclass(frozen=True)
class RoleRequired:
    """A dependency admitting only callers whose token has `role` (403 otherwise).

    A class rather than a closure, so that a route can tell which role it needs
    (`routing.AuthorizedRoute` checks it before the body is read)."""

    role: Role

    async def __call__(self, caller: CallerDep) -> Caller:
        if not caller.may(self.role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this token may not do this: it needs the {self.role.value!r} role"
            )
        return caller


def require(role: Role) -> RoleRequired:
    return RoleRequired(role)
