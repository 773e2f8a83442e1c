"""What browsers are told: security headers on every response, the dashboard's Content Security
Policy on its pages, and CORS for API consumers on other origins (off by default).

The CSP is the dashboard's (`dashboard.app.content_security_policy`: Dash's inline scripts by
their hashes); it goes on every HTML response but FastAPI's own `/docs` and `/redoc` pages,
which load Swagger UI and ReDoc from a CDN with inline scripts of their own. CORS is Starlette's
middleware, for bearer tokens only: no credentials (cookies) cross origins, so another site's
page can never act with the dashboard's login cookie.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.settings import ApiSettings

#: On every response: no MIME sniffing, never framed (clickjacking), and the dashboard's
#: addresses (device ids, tickers in the query) never sent to another site as a Referer.
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CORS_HEADERS = ["Authorization", "Content-Type", "Accept", "Last-Event-ID"]
#: Response headers a consumer's script may read besides the CORS-safelisted ones.
CORS_EXPOSED = ["Retry-After", "Content-Disposition", "Location", "WWW-Authenticate"]
CORS_MAX_AGE_S = 600


class SecurityHeaders:
    """Pure ASGI middleware (streams pass through untouched): `HEADERS` on every response, `csp`
    on HTML ones outside `exempt` paths. A header a route set itself is kept."""

    def __init__(self, app: ASGIApp, csp: str | None, exempt: frozenset[str]) -> None:
        self.app = app
        self.csp = csp
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                html = headers.get("content-type", "").startswith("text/html")
                if self.csp and html and scope["path"] not in self.exempt:
                    headers.setdefault("Content-Security-Policy", self.csp)
            await send(message)

        await self.app(scope, receive, sending)


def install(app: FastAPI, settings: ApiSettings, csp: str | None) -> None:
    """Add the headers, and CORS when `TICKWIRE_CORS_ORIGINS` names origins (outermost, so a
    preflight is answered before anything else and errors carry the CORS headers too)."""
    exempt = frozenset(
        path for path in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if path
    )
    app.add_middleware(SecurityHeaders, csp=csp, exempt=exempt)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            expose_headers=CORS_EXPOSED,
            allow_credentials=False,
            max_age=CORS_MAX_AGE_S,
        )
