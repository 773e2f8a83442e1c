"""/devices: the fleet grid. One card per device the user reads: status dot, latest values
(`GET /api/devices/latest`, one call for every card), last seen and a live sparkline, kept live
in the browser (assets/devices.js `fleet`); click a card for the device page."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import dash
from dash import Input, Output, State, dcc, html

from dashboard import client, frame
from dashboard.devices import data as devices_data
from dashboard.devices import fleet as devices_fleet
from tickwire import units

dash.register_page(
    __name__, path="/devices", title="tickwire · devices", name="Devices", order=2, nav=True
)

#: How often the page looks for devices added or removed (the stream follows known ones only).
POLL_MS = 30_000


def layout(**query: Any) -> html.Div:
    return html.Div(
        className="devices-page",
        children=[
            frame.live_filter("devices"),
            dcc.Store(id="devices-state"),
            dcc.Store(id="devices-drawn"),
            dcc.Interval(id="devices-clock", interval=5000),
            dcc.Interval(id="devices-poll", interval=POLL_MS),
            dcc.Store(id="devices-changed", data=0),
            html.Div(
                className="devices-title",
                children=[
                    html.H2("Devices"),
                    html.Span(id="devices-count", className="tw-quiet"),
                    dcc.Link("+ Add a device", href="/devices/new", className="tw-button"),
                ],
            ),
            devices_fleet.tools(devices_fleet.view(query)),
            dcc.Store(id="devices-view"),
            dcc.Loading(html.Div(id="devices-grid"), type="dot", delay_show=300),
        ],
    )


def _search(search: str | None) -> str:
    """The frame's part of the query string, for the cards' links."""
    kept = [(k, v) for k, v in parse_qsl((search or "").lstrip("?")) if k in frame.FRAME_PARAMS]
    return "?" + urlencode(kept) if kept else ""


@dash.callback(
    Output("devices-grid", "children"),
    Output("devices-state", "data"),
    Output({"type": "live-filter", "page": "devices"}, "data"),
    Output("devices-count", "children"),
    Output("devices-metric", "options"),
    Output("devices-metric", "value"),
    Input("timerange", "data"),
    Input("live-reset", "data"),
    Input("devices-changed", "data"),
    Input("devices-metric", "value"),
    State("url", "search"),
)
async def load_fleet(
    timerange: dict[str, Any] | None,
    _reset: int | None,
    _changed: int,
    chosen: str | None,
    search: str | None,
) -> tuple[Any, ...]:
    start, _ = frame.window(timerange)
    try:
        devices = await devices_data.fleet()
    except client.ApiFailed as failed:
        error = html.Div(failed.message, className="tw-error")
        return error, None, dash.no_update, "", dash.no_update, dash.no_update
    names = devices_fleet.metrics(devices)
    if chosen not in names:
        chosen = names[0] if names else None
    options = [{"label": units.labelled(name), "value": name} for name in names]
    cards = {d["device_id"]: devices_fleet.state(d, start, chosen) for d in devices}
    state = {"version": time.time(), "devices": cards}
    # "direct": the grid takes its events from the stream manager, not through Dash.
    live = {"tickers": [], "devices": sorted(cards), "all": False, "direct": "fleet"}
    online = sum(1 for d in devices if d["status"] == "ONLINE")
    count = f"{online} of {len(devices)} online" if devices else ""
    grid = devices_fleet.grid(devices, _search(search))
    return grid, state, live, count, options, chosen


@dash.callback(
    Output("devices-changed", "data"),
    Input("devices-poll", "n_intervals"),
    State("devices-state", "data"),
    State("devices-changed", "data"),
    prevent_initial_call=True,
)
async def poll(_tick: int, state: dict[str, Any] | None, changed: int) -> int:
    """Reload the grid when devices were added or removed (ids only: one small request)."""
    try:
        page = await client.get("/api/devices", limit=1000)
    except client.ApiFailed:
        raise dash.exceptions.PreventUpdate from None
    now = {d["device_id"] for d in page["items"]}
    if state is not None and now == set(state.get("devices", {})):
        raise dash.exceptions.PreventUpdate
    return changed + 1


dash.clientside_callback(
    dash.ClientsideFunction("devices", "fleet"),
    Output("devices-drawn", "data"),
    Input("devices-state", "data"),
    Input("devices-clock", "n_intervals"),
)

dash.clientside_callback(
    dash.ClientsideFunction("devices", "view"),
    Output("devices-view", "data"),
    Input("devices-search", "value"),
    Input("devices-status", "value"),
    Input("devices-sort", "value"),
)

# The view into the URL, so a link shares it (the defaults are left out).
dash.clientside_callback(
    dash.ClientsideFunction("devices", "remember"),
    Output("url", "search", allow_duplicate=True),
    Input("devices-search", "value"),
    Input("devices-status", "value"),
    Input("devices-sort", "value"),
    Input("devices-metric", "value"),
    State("url", "search"),
    prevent_initial_call=True,
)
