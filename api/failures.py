"""Every 500 is logged, with its traceback: a pure ASGI middleware inside Dash's, whose own
error handler answers a failed callback `500 InternalServerError` and logs nothing."""

from __future__ import annotations

import logging

from dash.exceptions import PreventUpdate
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.error_codes import ErrorCode
from api.errors import error_response

log = logging.getLogger("api.failures")


class FailureLog:
    """An exception escaping the app is logged with its traceback and answered 500
    `internal_error` (if no response has started; else re-raised); a 500 the app answered
    itself is logged too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if message["status"] == 500:
                    log.error("500 answered on %s %s", scope["method"], scope["path"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except PreventUpdate:
            raise  # not a failure: a callback that changes nothing (Dash answers it 204)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            response = error_response(500, ErrorCode.INTERNAL_ERROR, "an internal error occurred")
            await response(scope, receive, send)
