"""Mounting the dashboard on the API's FastAPI app: same origin, so the login cookie the API
sets reaches the live stream and the API calls of the page.

Pages live in `dashboard/pages/` (Dash Pages, one module per page); the frame around them in
`frame.py`; browser-side logic (the live stream, URL state, login) in `assets/tickwire.js`,
helpers every page's JS uses in `assets/_shared.js`, the constants it needs from Python sent
once with the page (`browser.py`).
"""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
from pathlib import Path
from typing import Any

import dash
from dash import State
from dash.backends._fastapi import get_current_request
from fastapi import FastAPI, HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse
from starlette.types import ASGIApp

from dashboard import browser, client, frame
from dashboard.boards import early

HERE = Path(__file__).parent
#: The page's Content Security Policy but for the hashes of Dash's inline scripts (its renderer
#: start and the clientside callbacks given as strings), which `content_security_policy` adds.
#: Styles may be inline: Dash and Plotly set style attributes and add <style> elements.
#: Everything else is this origin's: the scripts and assets, the API calls and the live stream.
CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:", "blob:"],
    "font-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def attach(server: FastAPI, api_base_url: str, reads: ASGIApp | None = None) -> dash.Dash:
    """Serve the dashboard from `server`; Python callbacks reach the API at `api_base_url`, and
    their GETs through `reads` in this process when given (dashboard.in_process)."""
    client.configure(api_base_url, reads)
    # Before Dash's own routes: `/` is no page of its own but a redirect home.
    server.router.add_route("/", _home, methods=["GET", "HEAD"], include_in_schema=False)
    server.router.add_route(
        browser.FINANCE_URL, _plotly, methods=["GET", "HEAD"], include_in_schema=False
    )
    app = _Dash(
        __name__,
        server=server,  # type: ignore[arg-type]  # Dash 4 infers the FastAPI backend
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="tickwire",
        update_title=None,  # type: ignore[arg-type]  # documented: no "Updating…" title
        suppress_callback_exceptions=True,
        # Handed to every page's layout (its keyword `timerange`): the range a board's first
        # answer draws its panels for. A State: a new range does not re-render the page.
        routing_callback_inputs={"timerange": State("timerange", "data")},
    )
    _order_pages()
    app.index_string = browser.index(app.index_string)
    app.layout = frame.layout
    frame.register(app)
    # Dash sets itself up on the first request to its index at "/"; a first visit to any other
    # page (a shared link) would get an index without the assets and callbacks. Do it now.
    app._setup_server()
    _register_page_routing(app)
    return app


class _Dash(dash.Dash):
    """Dash with Dash Pages' async router: it awaits a page's layout when that is a coroutine
    function (the board's: its panels' reads are the API's, in this process, on this event
    loop). Dash picks that router only for `use_async` apps, a flag that needs `asgiref` for
    Flask's async views and does nothing else on FastAPI; the sync router calls a layout
    without awaiting it (and runs on the event loop, where a sync layout cannot wait for the
    reads)."""

    def enable_pages(self) -> None:
        self._use_async = True
        super().enable_pages()

    def serve_layout(self) -> Any:
        """The frame's layout, the first request of Dash starting in the browser; on a board's
        address, its page started at once (boards.early), while Dash builds its callback graph
        and asks for the page."""
        early.start(get_current_request())
        return super().serve_layout()


async def _home(request: Request) -> RedirectResponse:
    """`/` → the home page, with the query (`/?range=1h` → `/markets?range=1h`): a real page,
    never a blank one, whether logged in or coming back from the login."""
    query = request.url.query
    return RedirectResponse(frame.HOME + (f"?{query}" if query else ""), status_code=307)


async def _plotly(request: Request) -> FileResponse:
    """plotly.js' finance bundle (`browser.FINANCE_JS`); its name has its version, so it is
    kept a year. A 404 when it was not fetched (no page asks for it then)."""
    if not browser.FINANCE_JS.is_file():
        raise HTTPException(status_code=404)
    return FileResponse(
        browser.FINANCE_JS,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


def content_security_policy(app: dash.Dash) -> str:
    """The CSP header value for `app`'s pages: `CSP` with its inline scripts' hashes, computed
    once every callback is registered (after `attach`)."""
    directives = {name: list(sources) for name, sources in CSP.items()}
    directives["script-src"] += list(app.csp_hashes())
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def _order_pages() -> None:
    """Dash Pages takes the first registered page whose path or template matches, in the order
    the pages folder was listed, and a template's `<var>` matches slashes too: `/devices/new`
    or `/devices/x/credentials` could open the device page. Exact paths first, then templates
    with more fixed characters first."""
    registry = dash.page_registry

    def rank(module: str) -> tuple[int, int]:
        template = registry[module].get("path_template")
        if not template:
            return 0, 0
        return 1, -len(re.sub(r"<[^>]*>", "", template))

    ordered = sorted(registry, key=rank)
    pages = [(module, registry.pop(module)) for module in ordered]
    registry.update(pages)


def _register_page_routing(app: dash.Dash) -> None:
    """Dash 4.4 registers Dash Pages' router (and its title callback) in a before-request hook
    that runs on requests to "/" and "/_dash-*" only: a first visit to "/login" got an index
    without the title callback's function, then a TypeError in the page. Run the hooks now,
    in a thread of their own (they are coroutines; this may be called in a running loop)."""
    hooks = list(app.backend._before_request_funcs)  # type: ignore[attr-defined]

    def run() -> None:
        for hook in hooks:
            if inspect.iscoroutinefunction(hook):
                asyncio.run(hook())
            else:
                hook()

    worker = threading.Thread(target=run, name="dash-pages-setup")
    worker.start()
    worker.join()
