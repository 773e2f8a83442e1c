"""What the alerts page asks the API for: its filters and the frame's time range as the query
parameters of GET /api/alerts, and the page's stream filter."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from dashboard import frame
from tickwire import alert_kinds

STATES: Final = [
    ("open", "Open"),
    ("ACTIVE", "Active"),
    ("ACKED", "Acked"),
    ("CLEARED", "Cleared"),
    ("any", "Any state"),
]
KINDS: Final = list(alert_kinds.NAMES)
LIMIT: Final = 200


def params(
    state: str | None,
    kind: str | None,
    device_id: str | None,
    ticker: str | None,
    timerange: dict[str, Any] | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The GET /api/alerts query. The range bounds `raised_at`, except for open alerts: an
    alert still open is current whenever it was raised."""
    query: dict[str, Any] = {
        "state": None if state in (None, "", "any") else state,
        "kind": kind or None,
        "device_id": device_id or None,
        "ticker": ticker or None,
        "since": None,
        "until": None,
        "limit": LIMIT,
    }
    if state == "open":
        return query
    window = timerange or {"range": "1h"}
    if window.get("range") == "custom":
        query["since"] = window.get("start")
        query["until"] = window.get("end")
    else:
        query["since"] = frame.window(window, now)[0]
    return query


def stream_filter(device_id: str | None, ticker: str | None) -> dict[str, Any]:
    """Alert events only (`kinds=alert`): of the chosen subject when the page is filtered on
    one, else every alert the user may see."""
    if device_id or ticker:
        return {
            "tickers": [ticker] if ticker else [],
            "devices": [device_id] if device_id else [],
            "kinds": ["alert"],
        }
    return {"tickers": [], "devices": [], "all": True, "kinds": ["alert"]}


def describe(query: dict[str, Any], timerange: dict[str, Any] | None) -> str:
    """What the table shows, in words."""
    if query.get("state") == "open":
        return "Every open alert, whenever raised"
    window = timerange or {"range": "1h"}
    if window.get("range") == "custom":
        zone = frame.zone(window)
        until = frame.when(query.get("until"), zone) or "now"
        return f"Raised between {frame.when(query.get('since'), zone)} and {until} ({zone})"
    return f"Raised in the last {window.get('range') or '1h'}"
