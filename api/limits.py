"""Request bodies larger than the API ever needs get a 413 in the one error shape."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.error_codes import ErrorCode
from api.errors import error_response

MAX_BODY_BYTES = 1024 * 1024


class BodyLimit:
    """Pure ASGI middleware: refuse bodies over `limit` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = refused = False

        async def counting() -> Message:
            nonlocal received, refused
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit and not started and not refused:
                # Answer now; the app sees a client that went away and its reply is dropped.
                refused = True
                await self._refuse(scope, receive, send)
            return {"type": "http.disconnect"} if refused else message

        async def sending(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, sending)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, ErrorCode.TOO_LARGE, f"the request body exceeds {self.limit} bytes"
        )
        await response(scope, receive, send)
