"""The API's answer to a GET asked in this process: the request handed to the app's router as
ASGI, with the caller's login cookie, not sent over HTTP to the same process.

Same routes, dependencies (the cookie's user, strict query parameters) and exception handlers
as over HTTP, so a page sees exactly what the API lets its user see, refusals and error codes
included. Not crossed: the socket, the HTTP parsing and the app's middleware (security
headers, CORS, body limit, request metrics: for a browser's request, which the dashboard's
own request already went through). An exception the handlers leave is logged with its
traceback and answered 500 `internal_error`, as the app's `api.failures` does.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from typing import Any

import httpx
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("dashboard.in_process")
#: Per-request keys the dashboard's request has in its state beside the app's lifespan state
#: (Dash's middleware: the callback's body and timing; dashboard.client: its shared GETs).
_REQUEST_STATE = ("json_body", "timing_information", "tickwire_gets")
_INTERNAL_ERROR = orjson.dumps(
    {"error": {"code": "internal_error", "message": "an internal error occurred"}}
)


async def _routed(router: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """`router` as FastAPI's middleware stack calls it: with the exit stack its routes close
    uploaded files on (FastAPI's AsyncExitStackMiddleware, the innermost middleware)."""
    async with AsyncExitStack() as stack:
        scope["fastapi_middleware_astack"] = stack
        await router(scope, receive, send)


def possible(outer: Scope) -> bool:
    """Whether `outer` (the dashboard's request) came through the app, whose router and
    lifespan state a GET can be handed to."""
    return "app" in outer and "state" in outer and "starlette.exception_handlers" in outer


async def get(
    outer: Scope, path: str, params: dict[str, Any], cookie: str | None
) -> httpx.Response:
    """GET `path` with `params` (encoded as httpx encodes them) from the app that serves
    `outer`, with `cookie` as the login cookie's header value; the whole answer."""
    state = {k: v for k, v in outer["state"].items() if k not in _REQUEST_STATE}
    headers = [(b"cookie", cookie.encode("latin-1"))] if cookie else []
    scope: Scope = {
        "type": "http",
        "asgi": outer.get("asgi", {"version": "3.0"}),
        "http_version": "1.1",
        "method": "GET",
        "scheme": outer.get("scheme", "http"),
        "server": outer.get("server"),
        "client": outer.get("client"),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": str(httpx.QueryParams(params)).encode("ascii"),
        "headers": headers,
        "state": state,
        "app": outer["app"],
        "starlette.exception_handlers": outer["starlette.exception_handlers"],
    }
    done = asyncio.Event()
    sent_body = False
    status, answer_headers, body = 500, [], bytearray()

    async def receive() -> Message:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, answer_headers
        if message["type"] == "http.response.start":
            status, answer_headers = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    try:
        # A task of its own: what the route sets in context variables stays in its copy.
        await asyncio.ensure_future(_routed(outer["app"].router, scope, receive, send))
    except Exception:  # the edge of this "request": what FailureLog does for one over HTTP
        log.exception("unhandled error on GET %s (in process)", path)
        return httpx.Response(500, content=_INTERNAL_ERROR)
    finally:
        done.set()
    if status == 500:
        log.error("500 answered on GET %s (in process)", path)
    return httpx.Response(status, headers=answer_headers, content=bytes(body))
