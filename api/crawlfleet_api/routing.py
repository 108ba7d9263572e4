"""How a route reads a request body: only once the caller is authorised, and a JSON
body strictly.

FastAPI decodes a body before it resolves any dependency, so malformed JSON from a
client without a token would be answered 422, where 401 is due, and a token without
the route's role would learn how its body was wrong before hearing it may not send
it. And Python's `json` module accepts what JSON is not (`NaN`, `Infinity`, lone
UTF-16 surrogates such as `"\\ud800"`): values that no later step, the 422 echoing
them included, can encode again. So `AuthorizedRoute` checks the caller first, then
decodes a JSON body with pydantic's parser, which refuses all of those, and hands
FastAPI the decoded value."""

from __future__ import annotations

import email.message
import math
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi import HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from fastapi.routing import APIRoute

from crawlfleet_api.deps import RoleRequired, caller_of

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class DecodedRequest(Request):
    """A request whose body was read and decoded already."""

    def __init__(self, request: Request, body: bytes, decoded: Any) -> None:
        super().__init__(request.scope, request.receive)
        self._raw_body = body
        self._decoded = decoded

    async def body(self) -> bytes:
        return self._raw_body

    async def json(self) -> Any:
        return self._decoded


def is_json(content_type: str | None) -> bool:
    """`application/json` or a `+json` type, parameters (a charset) allowed."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def non_finite_number(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where in a decoded JSON document a number overflowed to infinity (`1e400`), if anywhere."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = non_finite_number(item, (*path, key))
        if found is not None:
            return found
    return None


def decode_json(body: bytes) -> Any:
    """The JSON document in `body`, or a 422 that says where it is not JSON."""
    try:
        decoded = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as error:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": f"Invalid JSON: {error}", "input": {}}]
        ) from None
    where = non_finite_number(decoded)
    if where is not None:
        raise RequestValidationError(
            [
                {
                    "type": "finite_number",
                    "loc": ("body", *where),
                    "msg": "Input should be a finite number (it overflows a 64-bit float)",
                    "input": {},
                }
            ]
        )
    return decoded


class AuthorizedRoute(APIRoute):
    """A route that authorises its caller before it reads a body, and decodes a
    JSON body strictly (see the module's docstring)."""

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()
        if self.body_field is None:
            return handle
        roles = [
            dependency.dependency for dependency in self.dependencies if isinstance(dependency.dependency, RoleRequired)
        ]
        decodes_json = not isinstance(self.body_field.field_info, Form)

        async def authorize_then_handle(request: Request) -> Response:
            if roles:
                caller = await caller_of(request)
                for role in roles:
                    await role(caller)
            body = await request.body()
            if not body or not decodes_json:
                return await handle(request)
            if not is_json(request.headers.get("content-type")):
                raise HTTPException(
                    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                    "the body must be JSON: send it with the header 'Content-Type: application/json'",
                )
            return await handle(DecodedRequest(request, body, decode_json(body)))

        return authorize_then_handle
