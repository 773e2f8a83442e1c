"""The fleet grid's cards: one per device (status dot, last values, last seen, sparkline).

The Python side renders the cards and hands their starting state to the browser
(`devices-state`); assets/devices.js keeps dot, values, last seen and sparkline live.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from dashboard import theme

SPARK_POINTS = 200
EMPTY = html.Div(
    className="tw-empty",
    children=[
        "No devices yet — start the simulator with ",
        html.Code("python -m simulator"),
        " (or add one on the Admin page).",
    ],
)


def spark_metric(device: dict[str, Any]) -> str | None:
    """The metric a card's sparkline draws: the first, by name, with values in the range."""
    names = sorted(s["metric"] for s in device["series"] if s["points"])
    return names[0] if names else None


def state(device: dict[str, Any]) -> dict[str, Any]:
    """The card's starting state for the browser."""
    return {
        "status": device["status"],
        "last_seen": device["last_seen"],
        "values": {s["metric"]: s["last"] for s in device["series"] if s["last"] is not None},
        "spark": spark_metric(device),
    }


def sparkline(device: dict[str, Any]) -> go.Figure:
    metric = spark_metric(device)
    series = next((s for s in device["series"] if s["metric"] == metric), None)
    fig = theme.figure(
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        height=48,
        xaxis={"visible": False, "type": "date"},
        yaxis={"visible": False},
        showlegend=False,
    )
    fig.add_scatter(
        x=series["x"] if series else [],
        y=series["y"] if series else [],
        mode="lines",
        line={"width": 1.5, "color": theme.COLORS[0]},
        name=metric or "",
    )
    return fig


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
            dcc.Graph(
                id={"type": "devices-spark", **key},
                figure=sparkline(device),
                config={"staticPlot": True, "displayModeBar": False},
                className="devices-spark",
            ),
        ],
    )


def grid(devices: list[dict[str, Any]], search: str) -> Any:
    if not devices:
        return EMPTY
    return html.Div(className="devices-grid", children=[card(d, search) for d in devices])
