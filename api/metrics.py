"""This API process's own metrics: the registry `/metrics` exposes (api/routes/metrics.py) and
the middleware that counts and times every request. Other modules register their metrics
here (the live stream's, api/stream/hub.py)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "tickwire_api_requests",
    "HTTP requests served, by route template, method and status",
    ["route", "method", "status"],
    registry=API_REGISTRY,
)
LATENCY = Histogram(
    "tickwire_api_request_seconds",
    "HTTP request latency by route template (streams: until the headers are sent)",
    ["route"],
    registry=API_REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestMetrics:
    """Pure ASGI middleware (streams pass through untouched): count and time every request
    by its route template; latency is measured until the response headers are sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                LATENCY.labels(_template(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            REQUESTS.labels(_template(scope), scope["method"], str(status)).inc()


def _template(scope: Scope) -> str:
    """The route's path as served (`/api/devices/{device_id}`). FastAPI 0.165 puts the router's
    own route in `scope["route"]`, its path without the prefix it was included with (both
    logins would be `/login`); the path as included is in the route context it matched."""
    context = scope.get("fastapi", {}).get("effective_route_context")
    served = getattr(context, "path_format", None)
    if isinstance(served, str) and served:
        return served
    return str(getattr(scope.get("route"), "path", "unmatched"))
