"""A bound on request bodies, enforced before any route reads them.

A declared Content-Length over the limit is refused without reading a byte; a
body without one (chunked) is counted as it streams and refused as soon as it
passes the limit. Either way the app never holds more than the limit in memory."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class BodyLimit:
    """Largest body of the requests whose path matches `paths`, and the setting a refusal names."""

    paths: re.Pattern[str]
    max_bytes: int
    setting: str


class BodyLimitMiddleware:
    """`max_bytes` (CRAWLFLEET_MAX_BODY_BYTES) for every request, unless one of `uploads`
    matches its path: project eggs need more than a job spec ever does."""

    def __init__(self, app: ASGIApp, max_bytes: int, uploads: Sequence[BodyLimit] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes, setting = self.max_bytes, "CRAWLFLEET_MAX_BODY_BYTES"
        for upload in self.uploads:
            if upload.paths.fullmatch(scope["path"]):
                max_bytes, setting = upload.max_bytes, upload.setting
                break
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(scope, receive, send, max_bytes, setting)
            return
        first = await self._read_body(receive, max_bytes)
        if first is None:
            await self._refuse(scope, receive, send, max_bytes, setting)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                # Later calls are how a streaming response learns of a disconnect.
                return await receive()
            delivered = True
            return first

        await self.app(scope, replay, send)

    @staticmethod
    async def _read_body(receive: Receive, max_bytes: int) -> Message | None:
        """The whole body as one message, or None once it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, max_bytes: int, setting: str) -> None:
        response = JSONResponse(
            {"detail": f"request body is larger than the limit of {max_bytes} bytes ({setting})"},
            status_code=413,
            # The rest of the body is not read, so the connection can't carry another request.
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
