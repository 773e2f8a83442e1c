"""How Python callbacks read the API, as the logged-in user (the request's `tickwire_auth`
cookie is passed on), so the dashboard sees exactly what the API lets that user see: a GET is
handed to the app's router in this process (`dashboard.in_process`; a board's render makes
~15), a change (POST, PUT, PATCH, DELETE) goes over HTTP to this same process, through the
whole app as any client's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from dash.backends._fastapi import get_current_request
from starlette.types import ASGIApp

from dashboard import in_process

COOKIE_NAME = "tickwire_auth"
#: How long a call may take before the page says the API did not answer.
TIMEOUT_S = 30
_state: dict[str, Any] = {}


class ApiFailed(Exception):
    """The API answered with an error: `status`, its message for the page, and its stable
    `code` when it gave one (docs/api.md)."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def configure(base_url: str, reads: ASGIApp | None = None) -> None:
    """Set where the API answers over HTTP, and the app that answers GETs in process (`reads`,
    see dashboard.in_process; None: over HTTP too). Again for every app: tests create one per
    server."""
    _state["base_url"] = base_url
    _state["reads"] = reads
    _state["client"] = None


def _client() -> httpx.AsyncClient:
    found: httpx.AsyncClient | None = _state.get("client")
    if found is None:
        found = httpx.AsyncClient(base_url=_state["base_url"], timeout=TIMEOUT_S)
        _state["client"] = found
    return found


def cookie() -> str | None:
    """The caller's login cookie, if any."""
    return request_cookie(COOKIE_NAME)


def request_cookie(name: str) -> str | None:
    """The cookie `name` of the dashboard request being served, if any (as sent: check it)."""
    value: str | None = get_current_request().cookies.get(name)
    return value


async def get(path: str, **params: Any) -> Any:
    """GET `path` as the caller; the JSON body, or ApiFailed. The same GET (path and
    parameters) asked again while one request to the dashboard is served (a callback: a
    board's render asks the same alerts or latest values for several panels) is sent once;
    each caller gets its own copy of the body, to change as it likes."""
    shared = _shared()
    if shared is None:
        return await request("GET", path, params=params)
    key = (path, tuple(sorted((k, repr(v)) for k, v in params.items() if v is not None)))
    task = shared.get(key)
    if task is None:
        task = asyncio.ensure_future(_get_text(path, params))
        shared[key] = task
    return orjson.loads(await asyncio.shield(task))


def _shared() -> dict[Any, asyncio.Future[bytes]] | None:
    """This dashboard request's GETs in flight or answered, kept on the request itself (so
    they end with it); None outside a request."""
    try:
        state = get_current_request().state
    except RuntimeError:
        return None
    found: dict[Any, asyncio.Future[bytes]] | None = getattr(state, "tickwire_gets", None)
    if found is None:
        found = {}
        state.tickwire_gets = found
    return found


async def _get_text(path: str, params: dict[str, Any]) -> bytes:
    response = await _send("GET", path, params=params)
    return response.content or b"null"


async def request(method: str, path: str, **kwargs: Any) -> Any:
    shared = _shared() if method != "GET" else None
    if shared:  # a change: a GET after it is asked again
        shared.clear()
    response = await _send(method, path, **kwargs)
    return response.json() if response.content else None


async def _send(method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The API's answer, or ApiFailed for an error or none."""
    outer = get_current_request().scope  # the dashboard's request being served
    token = cookie()
    headers = {"Cookie": f"{COOKIE_NAME}={token}"} if token else {}
    params = {k: v for k, v in kwargs.pop("params", {}).items() if v is not None}
    try:
        reads = _state.get("reads")
        if method == "GET" and reads is not None and in_process.possible(outer):
            async with asyncio.timeout(TIMEOUT_S):
                response = await in_process.get(reads, outer, path, params, headers.get("Cookie"))
        else:
            response = await _client().request(
                method, path, headers=headers, params=params, **kwargs
            )
    except (httpx.HTTPError, TimeoutError) as failed:  # no answer in time, or none at all
        raise ApiFailed(503, f"the API did not answer ({type(failed).__name__})") from failed
    if response.status_code >= 400:
        raise ApiFailed(response.status_code, _message(response), _code(response))
    return response


async def me() -> dict[str, Any] | None:
    """The logged-in user (`/users/me`), or None when not logged in; ApiFailed when the API
    could not tell (a database outage is no reason to send the user to the login page)."""
    try:
        user: dict[str, Any] = await get("/users/me")
    except ApiFailed as failed:
        if failed.status in (401, 403):
            return None
        raise
    return user


def _code(response: httpx.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return str(error["code"]) if isinstance(error, dict) and "code" in error else None


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and "message" in error:
        return str(error["message"])
    return str(body.get("detail", f"HTTP {response.status_code}"))
