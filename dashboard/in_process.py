"""The API's answer to a GET asked in this process: the request handed to the API's router as
ASGI, with the caller's login cookie, not sent over HTTP to the same process.

Same routes, dependencies (the cookie's user, strict query parameters), exception handlers,
request metrics and failure log as over HTTP (`api.main` hands the router wrapped in the
last two: `reads`), so a page sees exactly what the API lets its user see, refusals and error
codes included. Not crossed: the socket, the HTTP parsing and the browser-facing middleware
(security headers, CORS, body limit), which the dashboard's own request went through.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Scope

#: Per-request keys the dashboard's request has in its state beside the app's lifespan state
#: (Dash's middleware: the callback's body and timing; dashboard.client: its shared GETs;
#: `get`: its reads' logins).
_REQUEST_STATE = ("json_body", "timing_information", "tickwire_gets", "tickwire_logins")
#: The ASGI scope extension in which every read of one dashboard request gets the same dict,
#: in which the API's `reads` keep the login they resolved (api.sessions.SharedLogins).
LOGINS = "tickwire.logins"


def possible(outer: Scope) -> bool:
    """Whether `outer` (the dashboard's request) came through the app, whose lifespan state and
    exception handlers a GET can be handed with."""
    return "app" in outer and "state" in outer and "starlette.exception_handlers" in outer


async def get(
    reads: ASGIApp, outer: Scope, path: str, params: dict[str, Any], cookie: str | None
) -> httpx.Response:
    """GET `path` with `params` (encoded as httpx encodes them) from `reads` as the app serving
    `outer` would route it, with `cookie` as the Cookie header; the whole answer."""
    state = {k: v for k, v in outer["state"].items() if k not in _REQUEST_STATE}
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
        "headers": [(b"cookie", cookie.encode("latin-1"))] if cookie else [],
        "state": state,
        # Its reads' login looked up once for them all (api.sessions.SharedLogins).
        "extensions": {LOGINS: outer["state"].setdefault("tickwire_logins", {})},
        "app": outer["app"],
        "starlette.exception_handlers": outer["starlette.exception_handlers"],
    }
    done = asyncio.Event()
    sent = False
    status, headers, body = 500, [], bytearray()

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    async def routed() -> None:
        # The exit stack FastAPI's innermost middleware gives each request (uploads close on it).
        async with AsyncExitStack() as stack:
            scope["fastapi_middleware_astack"] = stack
            await reads(scope, receive, send)

    try:
        # A task of its own: what the route sets in context variables stays in its copy.
        await asyncio.ensure_future(routed())
    finally:
        done.set()
    return httpx.Response(status, headers=headers, content=bytes(body))
