"""A bound on request bodies, enforced before any route reads them.

A declared Content-Length over the limit is refused without reading a byte; a
body without one (chunked) is counted as it streams and refused as soon as it
passes the limit. Either way the app never holds more than the limit in memory."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        first = await self._read_body(receive)
        if first is None:
            await self._refuse(scope, receive, send)
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

    async def _read_body(self, receive: Receive) -> Message | None:
        """The whole body as one message, or None once it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body is larger than the limit of {self.max_bytes} bytes (CRAWLFLEET_MAX_BODY_BYTES)"},
            status_code=413,
            # The rest of the body is not read, so the connection can't carry another request.
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
