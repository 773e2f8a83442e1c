"""The fleet grid's cards: one per device (status dot, last values, last seen, sparkline).

The Python side renders the cards and hands their starting state to the browser
(`devices-state`), from the devices' latest values (`GET /api/devices/latest`: one call for
the whole fleet); assets/devices.js keeps dot, values, last seen and sparkline live. The
sparkline is an SVG image drawn in the browser from the live readings (at most SPARK_POINTS
points, the latest), starting at the newest reading when it lies in the frame's range: 50
plotly graphs redrawing every second kept a renderer core busy, 50 images do not.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from dash import dcc, html

from dashboard import frame

SPARK_POINTS = 200
#: Until the browser draws the sparkline: an empty image, not a broken one.
BLANK = "data:image/svg+xml;utf8,%3Csvg%20xmlns%3D%22http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%22%2F%3E"
EMPTY = html.Div(
    className="tw-empty",
    children=[
        "No devices yet — start the simulator with ",
        html.Code("python -m simulator"),
        " (or add one on the Admin page).",
    ],
)


def metrics(devices: list[dict[str, Any]]) -> list[str]:
    """The metrics the fleet has, the most common first (then by name): the sparkline's choices."""
    counts = Counter(name for device in devices for name in device["values"])
    return sorted(counts, key=lambda name: (-counts[name], name))


def spark_metric(device: dict[str, Any], chosen: str | None = None) -> str | None:
    """The metric a card's sparkline draws: `chosen` if the device has it, else its first by
    name."""
    if chosen and chosen in device["values"]:
        return chosen
    names = sorted(device["values"])
    return names[0] if names else None


def state(device: dict[str, Any], since: str, chosen: str | None = None) -> dict[str, Any]:
    """The card's starting state for the browser: its latest values, and the sparkline (epoch
    ms and values) starting at the newest reading of its metric if that is `since` or later;
    a pause longer than the device's offline timeout is a gap in the line."""
    metric = spark_metric(device, chosen)
    newest = device["values"].get(metric) if metric else None
    start = [] if newest is None or _epoch_ms(newest["time"]) < _epoch_ms(since) else [newest]
    return {
        "name": device["name"],
        "status": device["status"],
        "last_seen": device["last_seen"],
        "values": {name: point["value"] for name, point in device["values"].items()},
        "spark": metric,
        "spark_t": [_epoch_ms(p["time"]) for p in start],
        "spark_y": [p["value"] for p in start],
        "gap_ms": round(float(device.get("offline_timeout_s") or 10.0) * 1000),
    }


def _epoch_ms(iso: str) -> int:
    return round(frame.instant(iso).timestamp() * 1000)


def card(device: dict[str, Any], search: str) -> dcc.Link:
    device_id = device["device_id"]
    key = {"device": device_id}
    title = device["name"] if device["name"] != device_id else ""
    return dcc.Link(
        href=f"/devices/{device_id}{search}",
        className="tw-panel devices-card",
        id={"type": "devices-card", **key},
        children=[
            html.Div(
                className="devices-head",
                children=[
                    html.Span(
                        id={"type": "devices-dot", **key},
                        className=f"tw-dot {device['status']}",
                        title=device["status"],
                    ),
                    html.Span(device_id, className="devices-id"),
                    html.Span(title, className="devices-name"),
                ],
            ),
            html.Div(id={"type": "devices-values", **key}, className="devices-values"),
            html.Div(id={"type": "devices-seen", **key}, className="devices-seen"),
            html.Img(
                id={"type": "devices-spark", **key}, className="devices-spark", src=BLANK, alt=""
            ),
            html.Div(id={"type": "devices-spark-label", **key}, className="devices-spark-label"),
        ],
    )


STATUSES = [
    {"label": "any status", "value": "all"},
    {"label": "online", "value": "ONLINE"},
    {"label": "offline", "value": "OFFLINE"},
    {"label": "never seen", "value": "UNKNOWN"},
]
SORTS = [
    {"label": "by id", "value": "id"},
    {"label": "offline first", "value": "status"},
    {"label": "longest silent first", "value": "seen"},
]


VIEW_PARAMS = ("q", "status", "sort", "metric")
"""The grid's view in the URL (`?q=pump&status=OFFLINE&sort=seen&metric=humidity`)."""


def view(query: dict[str, Any]) -> dict[str, Any]:
    """The grid's view from the page's query: unknown values are the defaults."""
    status = query.get("status")
    sort = query.get("sort")
    metric = query.get("metric")
    return {
        "q": str(query.get("q") or "")[:100],
        "status": status if status in {s["value"] for s in STATUSES} else "all",
        "sort": sort if sort in {s["value"] for s in SORTS} else "id",
        "metric": str(metric)[:100] if metric else None,
    }


def tools(chosen: dict[str, Any]) -> html.Div:
    """Search, status filter, sort (assets/devices.js `view` applies them to the cards in the
    browser) and the sparklines' metric (a reload: the cards start from its latest value), as
    `chosen` (`view`)."""
    metric = chosen["metric"]
    return html.Div(
        className="devices-tools",
        children=[
            dcc.Input(
                id="devices-search",
                type="search",
                placeholder="search id or name",
                className="tw-input devices-search",
                value=chosen["q"],
            ),
            _select("devices-status", STATUSES, chosen["status"]),
            _select("devices-sort", SORTS, chosen["sort"]),
            html.Label("sparkline", htmlFor="devices-metric", className="tw-quiet"),
            _select(
                "devices-metric", [{"label": metric, "value": metric}] if metric else [], metric
            ),
            html.Span(id="devices-shown", className="tw-quiet"),
        ],
    )


def _select(id_: str, options: list[dict[str, str]], value: str | None) -> dcc.Dropdown:
    return dcc.Dropdown(
        id=id_,
        options=options,
        value=value,
        clearable=False,
        searchable=False,
        className="devices-select",
    )


def grid(devices: list[dict[str, Any]], search: str) -> Any:
    if not devices:
        return EMPTY
    return html.Div(className="devices-grid", children=[card(d, search) for d in devices])
