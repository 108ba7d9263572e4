"""The methods a path allows: what `OPTIONS` answers and what a 405 lists.

Starlette answers a method a path does not serve from the first route whose path
matched, so `/v1/jobs/{id}`, served by a GET and a DELETE route, would claim to
allow only GET. Here every route is asked."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.routing import Match
from starlette.types import Scope

# Every method a route of ours may serve; OPTIONS is answered here for every path.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route serves at the request's path, and OPTIONS."""
    served = {
        method
        for method in METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in app.router.routes)
    }
    return sorted(served | {"OPTIONS"})


async def method_not_allowed(request: Request, _: Exception) -> Response:
    """`OPTIONS` gets the allowed methods; any other method they do not include, a 405 naming them."""
    allow = ", ".join(allowed_methods(request.app, request.scope))
    if request.method == "OPTIONS":
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"Allow": allow})
    return JSONResponse(
        {"detail": f"{request.method} is not allowed here; this path allows {allow}"},
        status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
        headers={"Allow": allow},
    )


def install_method_handlers(app: FastAPI) -> None:
    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, method_not_allowed)
