"""/devices/<device_id>: one live chart per metric over the frame's range (zoom → a finer
fetch of that range), rolling averages 5 m / 1 h / 24 h, the device's alerts and commands,
export links for each chart's range. Live points come in the browser (assets/devices.js)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import dash
from dash import ALL, MATCH, Input, Output, State, ctx, dcc, html

from dashboard import client, frame
from dashboard.boards import data as boards_data
from dashboard.boards import generated
from dashboard.boards import panels as boards_panels
from dashboard.devices import data as devices_data
from dashboard.devices import panels as devices_panels

dash.register_page(__name__, path_template="/devices/<device_id>", title="tickwire · device")

ZOOM_POINTS = 1000
MIN_POINTS = 50
COMMANDS = [
    {"label": "set_interval", "value": "set_interval"},
    {"label": "ping", "value": "ping"},
]


def _panel(title: str, body_id: str, *extra: Any, wide: bool = False) -> html.Div:
    return html.Div(
        className="tw-panel" + (" wide" if wide else ""),
        children=[
            html.H3(title),
            *extra,
            dcc.Loading(html.Div(id=body_id), type="dot", delay_show=300),
        ],
    )


def _command_form() -> html.Div:
    return html.Div(
        className="device-form",
        children=[
            dcc.Dropdown(
                id="device-cmd",
                options=COMMANDS,
                value="set_interval",
                clearable=False,
                searchable=False,
                className="device-cmd-select",
            ),
            dcc.Input(
                id="device-cmd-seconds",
                type="number",
                min=0.01,
                max=3600,
                value=1,
                className="tw-input",
                placeholder="seconds",
            ),
            html.Span("s", id="device-cmd-unit", className="tw-quiet"),
            html.Button("Send", id="device-cmd-send", className="tw-button primary"),
            html.Span(id="device-cmd-error", className="tw-error"),
        ],
    )


def layout(device_id: str | None = None, **_query: Any) -> html.Div:
    return html.Div(
        className="device-page",
        children=[
            frame.live_filter("device", devices=[device_id] if device_id else []),
            frame.going("device"),
            dcc.Store(id="device-id", data=device_id),
            dcc.Store(id="device-rev"),
            dcc.Store(id="device-model"),
            dcc.Store(id="device-width"),
            dcc.Store(id="device-alert-bump", data=0),
            dcc.Interval(id="device-stats-tick", interval=30_000),
            dcc.Interval(id="device-cmd-tick", interval=1000, disabled=True),
            # The head is there from the start: the live callback writes its dot and last seen.
            html.Div(
                className="device-head",
                children=[
                    dcc.Link("← Devices", href="/devices", className="tw-link", id="device-back"),
                    html.Span(id="device-dot", className="tw-dot UNKNOWN"),
                    html.H2(device_id or ""),
                    html.Span(id="device-about", className="tw-quiet"),
                    html.Span(id="device-seen", className="devices-seen"),
                    dcc.Link(
                        "MQTT credentials",
                        href=f"/devices/{quote(device_id or '', safe='')}/credentials",
                        className="tw-link",
                        id="device-credentials",
                    ),
                    html.Button(
                        "Save as dashboard",
                        id="device-save-as",
                        className="tw-button",
                        title="Start a dashboard of your own from this page's panels",
                        style={"display": "none"},  # shown once there is a device to save
                    ),
                    html.Span(id="device-save-note", className="tw-quiet"),
                ],
            ),
            html.Div(id="device-missing"),
            html.Div(
                id="device-body",
                children=[
                    dcc.Loading(
                        html.Div(id="device-charts", className="tw-grid device-charts"),
                        type="dot",
                        delay_show=300,
                    ),
                    html.Div(
                        className="tw-grid device-panels",
                        children=[
                            _panel("Rolling averages", "device-stats"),
                            _panel("Commands", "device-commands", _command_form()),
                            _panel("Alerts", "device-alerts", wide=True),
                        ],
                    ),
                ],
            ),
        ],
    )


def _missing(device_id: str, failed: client.ApiFailed) -> html.Div:
    """One message for the page (no panels, no command form) when the device is not readable."""
    if failed.status in (403, 404):
        text = f"No device “{device_id}” that you can see: it does not exist or is not yours."
    else:
        text = f"{device_id}: {failed.message}"
    return html.Div(
        className="tw-panel wide device-missing",
        children=[html.Div(text, className="tw-error"), dcc.Link("← All devices", href="/devices")],
    )


@dash.callback(
    Output("device-dot", "className"),
    Output("device-about", "children"),
    Output("device-seen", "children"),
    Output("device-charts", "children"),
    Output("device-rev", "data"),
    Output("device-missing", "children"),
    Output("device-body", "style"),
    Output("device-model", "data"),
    Input("timerange", "data"),
    Input("live-reset", "data"),
    Input("device-width", "data"),
    State("device-id", "data"),
)
async def load(
    timerange: dict[str, Any] | None,
    _reset: int | None,
    width: int | None,
    device_id: str | None,
) -> tuple[Any, ...]:
    """The head, one chart per metric over the frame's range with about as many points as each
    plot is wide (`width`: the page's, from assets/devices.js `plotWidth`), or one message."""
    hidden = {"display": "none"}
    if not device_id:
        missing = html.Div("No device given.", className="tw-panel wide tw-error")
        return "tw-dot UNKNOWN", "", "", [], None, missing, hidden, None
    start, end = frame.window(timerange)
    tz = frame.zone(timerange)
    revision = f"{start}|{end}|{tz}"
    try:
        (device, metrics), rules = await asyncio.gather(
            devices_data.device(device_id), devices_data.rules()
        )
        width = devices_panels.plot_width(width, metrics)
        points = devices_data.points_for(width, ZOOM_POINTS, MIN_POINTS)
        answer, marks = await asyncio.gather(
            devices_data.telemetry(device_id, start, end, points, tz=tz),
            boards_data.marks([{"device_id": device_id}], start, end, tz),
        )
    except client.ApiFailed as failed:
        return "tw-dot UNKNOWN", "", "", [], None, _missing(device_id, failed), hidden, None
    about = " · ".join(p for p in (device["name"], device["kind"]) if p and p != device_id)
    seen = f"last seen {frame.when(device['last_seen'], tz) or 'never'}"
    shown = [s["metric"] for s in answer["series"]]
    model = generated.device(device, shown, rules, timerange)
    charts = devices_panels.charts(model, answer, revision, width, tz, marks)
    return f"tw-dot {device['status']}", about, seen, charts, revision, None, {}, model


@dash.callback(
    Output({"type": "device-chart", "metric": MATCH}, "figure"),
    Output({"type": "device-res", "metric": MATCH}, "title"),
    Output({"type": "device-export", "metric": MATCH}, "children"),
    Input({"type": "device-zoom", "metric": MATCH}, "data"),
    State("device-id", "data"),
    State("device-rev", "data"),
    State("timerange", "data"),
    State("device-model", "data"),
    prevent_initial_call=True,
)
async def zoom(
    view: dict[str, Any] | None,
    device_id: str,
    revision: str | None,
    timerange: dict[str, Any] | None,
    model: dict[str, Any] | None,
) -> tuple[Any, ...]:
    """Zoom means detail: re-fetch the visible range (`view`, from assets/devices.js `zoom`)
    with as many points as the plot is wide, at the resolution the API picks for that."""
    if not view:
        raise dash.exceptions.PreventUpdate
    reset = bool(view.get("reset"))
    tz = frame.zone(timerange)
    if reset:
        start, end = frame.window(timerange)
    else:
        try:
            start, end = frame.from_wall(view["start"], tz), frame.from_wall(view["end"], tz)
        except (KeyError, ValueError):
            raise dash.exceptions.PreventUpdate from None
    points = devices_data.points_for(view.get("width"), ZOOM_POINTS, MIN_POINTS)
    metric = ctx.triggered_id["metric"]
    # The metric's panel in the page's model, and its place (its colour).
    found = [
        (i, p) for i, p in enumerate((model or {}).get("panels", []))
        if p["type"] == "timeseries" and p["targets"][0].get("metric") == metric
    ]  # fmt: skip
    if not found:
        raise dash.exceptions.PreventUpdate
    index, panel = found[0]
    try:
        answer, marks = await asyncio.gather(
            devices_data.telemetry(device_id, start, end, points, metric, tz),
            boards_data.marks([{"device_id": device_id}], start, end, tz),
        )
    except client.ApiFailed as failed:
        return dash.no_update, html.Span(failed.message, className="tw-error"), dash.no_update
    series = answer["series"][0] if answer["series"] else _empty(metric)
    span = (answer["start"], answer["end"])
    figure = devices_panels.figure(panel, series, revision or "", index, span, tz, marks)
    if not reset:
        figure.update_xaxes(range=[frame.wall(start, tz), frame.wall(end, tz)])
    return (
        figure,
        devices_data.label(answer, view.get("width")),
        devices_panels.exports(device_id, metric, answer["start"], answer["end"]),
    )


def _empty(metric: str) -> dict[str, Any]:
    return {"metric": metric, "method": "raw", "points": [], "x": [], "y": []}


@dash.callback(
    Output("device-stats", "children"),
    Input("timerange", "data"),
    Input("device-stats-tick", "n_intervals"),
    State("device-id", "data"),
)
async def rolling(_timerange: Any, _tick: int | None, device_id: str | None) -> Any:
    if not device_id:
        return []
    try:
        return devices_panels.stats(await devices_data.rolling_stats(device_id))
    except client.ApiFailed as failed:
        return html.Div(failed.message, className="tw-error")


@dash.callback(
    Output("device-alerts", "children"),
    Input("timerange", "data"),
    Input("device-alert-bump", "data"),
    State("device-id", "data"),
)
async def alerts(timerange: Any, _bump: int | None, device_id: str | None) -> Any:
    if not device_id:
        return []
    try:
        found = await devices_data.alerts(device_id)
        return boards_panels.alerts(found, frame.zone(timerange), "No alerts for this device.")
    except client.ApiFailed as failed:
        return html.Div(failed.message, className="tw-error")


@dash.callback(
    Output("device-commands", "children"),
    Output("device-cmd-error", "children"),
    Output("device-cmd-tick", "disabled"),
    Input("device-cmd-send", "n_clicks"),
    Input("device-cmd-tick", "n_intervals"),
    Input("timerange", "data"),
    State("device-cmd", "value"),
    State("device-cmd-seconds", "value"),
    State("device-id", "data"),
)
async def commands(
    _send: int | None,
    _tick: int | None,
    timerange: Any,
    command: str,
    seconds: float | None,
    device_id: str | None,
) -> tuple[Any, ...]:
    """Send a command (the Send button), then follow the list until nothing is pending."""
    if not device_id:
        return [], "", True
    error = ""
    try:
        if ctx.triggered_id == "device-cmd-send":
            if command == "set_interval" and not seconds:
                error = "set_interval needs seconds (0.01 – 3600)."
            else:
                args = {"seconds": seconds} if command == "set_interval" else {}
                await devices_data.send_command(device_id, command, args)
        items = await devices_data.commands(device_id)
    except client.ApiFailed as failed:
        return dash.no_update, failed.message, True
    pending = any(c["status"] == "pending" for c in items)
    return devices_panels.commands(items, frame.zone(timerange)), error, not pending


dash.clientside_callback(
    "(command) => command === 'set_interval' ? [{}, {}] : [{display: 'none'}, {display: 'none'}]",
    Output("device-cmd-seconds", "style"),
    Output("device-cmd-unit", "style"),
    Input("device-cmd", "value"),
)

dash.clientside_callback(
    dash.ClientsideFunction("devices", "plotWidth"),
    Output("device-width", "data"),
    Input("device-id", "data"),
)

dash.clientside_callback(
    dash.ClientsideFunction("tickwire", "zoom"),
    Output({"type": "device-zoom", "metric": MATCH}, "data"),
    Input({"type": "device-chart", "metric": MATCH}, "relayoutData"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    dash.ClientsideFunction("devices", "charts"),
    Output({"type": "device-chart", "metric": ALL}, "extendData"),
    Input("live-events", "data"),
    State("device-id", "data"),
)

dash.clientside_callback(
    dash.ClientsideFunction("devices", "device"),
    Output("device-dot", "className"),
    Output("device-seen", "children"),
    Output("device-alert-bump", "data"),
    Input("live-events", "data"),
    State("device-id", "data"),
    State("device-alert-bump", "data"),
)

# "Save as dashboard": the page's model (`load`) as the user's own, then /d/<uid>; no button
# when there is no device (a missing one is one message, no controls that do nothing).
dash.clientside_callback(
    "(model) => (model ? {} : {display: 'none'})",
    Output("device-save-as", "style"),
    Input("device-model", "data"),
)
dash.callback(
    Output({"type": "go", "page": "device"}, "data"),
    Output("device-save-note", "children"),
    Input("device-save-as", "n_clicks"),
    State("device-model", "data"),
    prevent_initial_call=True,
)(generated.save_as)
