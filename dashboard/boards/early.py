"""A board's page started as Dash starts in the browser, not when the Pages router asks for
it: the board's reads and figures (~0.1 s of the server's CPU) run while the browser builds
Dash's callback graph and asks for the page (~0.1 s), and the router's request finds them
done or under way.

`start` (Dash's `_dash-layout` request, the first of a page load once its scripts ran:
`dashboard.app`) starts drawing the page at the address it was asked from (its Referer, which
the app's `Referrer-Policy: same-origin` keeps for its own pages) as the router will ask for it
on this load: the same user (login cookie), address, grid width and zone cookies, and no
`timerange` yet (a page load's router request has none). Not earlier, at the index: the board's
work on the event loop then held up the answers to the page's scripts (their revalidations),
and the page started later by what it saved. `claimed` (the board's layout)
takes it when its request carries the same; any difference (another width written by the
new page's script, another user) and the page is drawn again as it is asked. A started page
is the request's own (keyed by its login cookie), claimed once, kept `KEEP_S` at most, and at
most `MOST` wait at once (the oldest dropped).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import anyio.from_thread
from dash._pages import _parse_query_string
from dash.backends._fastapi import set_current_request
from starlette.requests import Request

from dashboard import boards, client, frame

#: How long a page started early waits for its router request.
KEEP_S = 10.0
#: Pages started early waiting at once, at most.
MOST = 32
_PATH = re.compile(r"/d/([^/]+)")
#: The board's layout drawing (`pages/board.py` sets it as it is loaded).
draw: list[Callable[..., Awaitable[Any]]] = []
_started: dict[str, tuple[float, asyncio.Future[Any]]] = {}


def key(request: Request, uid: str, query: dict[str, Any]) -> str | None:
    """What a page drawn for `request` depends on: its login, its grid width and zone cookies,
    the board and the address's query. None without a login (nothing to start)."""
    cookies = request.cookies
    login = cookies.get(client.COOKIE_NAME)
    if not login:
        return None
    width, zone = cookies.get(boards.WIDTH_COOKIE), cookies.get(frame.ZONE_COOKIE)
    return json.dumps([login, width, zone, uid, query], sort_keys=True)


def start(request: Request) -> None:
    """Start drawing the board page `request` (Dash's `_dash-layout`) was asked from."""
    page = urlsplit(request.headers.get("referer", ""))
    same = (page.scheme, page.netloc) == (request.url.scheme, request.url.netloc)
    found = _PATH.fullmatch(page.path) if same else None
    if found is None or not draw:
        return
    uid = found.group(1)  # as Dash Pages reads it from the address: not unquoted
    query = _parse_query_string(f"?{page.query}") if page.query else {}
    if "uid" in query or "timerange" in query:  # they would not reach the layout as given
        return
    started = key(request, uid, query)
    if started is None:
        return

    def begin() -> None:  # on the event loop: `_started` is only ever changed there
        _forget(time.monotonic())
        task = asyncio.ensure_future(_drawing(request, uid, query))
        task.add_done_callback(_seen)
        _started[started] = (time.monotonic(), task)
        while len(_started) > MOST:
            _drop(next(iter(_started)))

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # a worker thread (Dash serves `_dash-layout` from one)
        anyio.from_thread.run_sync(begin)
    else:
        begin()


async def _drawing(request: Request, uid: str, query: dict[str, Any]) -> Any:
    """The page, drawn as the router will ask for it, as `request`'s user."""
    set_current_request(request)  # in this task's own context: whose reads these are
    return await draw[0](uid, None, **query)


async def claimed(request: Request, uid: str, query: dict[str, Any]) -> Any | None:
    """The page started early for what `request` asks (the router's), or None."""
    started = key(request, uid, query)
    found = _started.pop(started, None) if started is not None else None
    if found is None or time.monotonic() - found[0] > KEEP_S:
        if found is not None:
            found[1].cancel()
        return None
    try:
        return await found[1]
    except Exception:  # drawn as it is asked instead, which says what failed
        return None


def _forget(now: float) -> None:
    for old in [k for k, (at, _) in _started.items() if now - at > KEEP_S]:
        _drop(old)


def _drop(started: str) -> None:
    _, task = _started.pop(started)
    task.cancel()


def _seen(task: asyncio.Future[Any]) -> None:
    """A failure of a page never claimed is not logged as never retrieved."""
    if not task.cancelled():
        task.exception()
