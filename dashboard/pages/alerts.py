"""/alerts: a live table of alerts with filters and acknowledge (one, or every ACTIVE one
shown at once), and "silence 1 h" for a device's alerts (issue 18).

The rows are loaded from GET /api/alerts when a filter or the time range changes (Python), then
kept current in the browser (`assets/alerts.js`): `alert` events of the stream replace their row
or add a new one that matches the filters; the table is drawn there too. Acknowledging posts
/api/alerts/{id}/ack and shows the answer at once (the stream brings it again, harmlessly).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash
from dash import ALL, Input, Output, State, callback, clientside_callback, dcc, html

from dashboard import client, frame
from dashboard.alerts import query as alerts_query

dash.register_page(
    __name__, path="/alerts", title="tickwire · alerts", name="Alerts", order=3, nav=True
)

_FILTER = {"type": "live-filter", "page": "alerts"}


def _dropdown(name: str, placeholder: str, **kwargs: Any) -> dcc.Dropdown:
    return dcc.Dropdown(
        id=f"alerts-{name}", placeholder=placeholder, className="alerts-filter", **kwargs
    )


def layout(
    state: str = "open",
    kind: str | None = None,
    device: str | None = None,
    ticker: str | None = None,
    **_other: Any,
) -> html.Div:
    """`/alerts?state=CLEARED&kind=OFFLINE&device=…&ticker=…` opens the page so filtered."""
    states = [{"label": label, "value": value} for value, label in alerts_query.STATES]
    if state not in {value for value, _ in alerts_query.STATES}:
        state = "open"
    return html.Div(
        className="tw-grid",
        children=[
            frame.live_filter("alerts", everything=True, kinds=["alert"]),
            dcc.Store(id="alerts-init", data=0),
            dcc.Store(id="alerts-rows"),
            html.Div(
                className="tw-panel wide",
                children=[
                    html.H3("Alerts"),
                    html.Div(
                        className="alerts-filters",
                        children=[
                            _dropdown(
                                "state", "State", options=states, value=state, clearable=False
                            ),
                            _dropdown("kind", "Any kind", options=alerts_query.KINDS, value=kind),
                            _dropdown(
                                "device",
                                "Any device",
                                options=[device] if device else [],
                                value=device,
                            ),
                            _dropdown(
                                "ticker",
                                "Any ticker",
                                options=[ticker] if ticker else [],
                                value=ticker,
                            ),
                            html.Span(id="alerts-summary", className="alerts-summary"),
                            html.Button(
                                "Acknowledge all shown",
                                id="alerts-ack-all",
                                className="tw-button",
                                n_clicks=0,
                            ),
                        ],
                    ),
                    html.Div(id="alerts-error", className="tw-error"),
                    html.Div(id="alerts-notice", className="alerts-notice"),
                    dcc.Loading(
                        html.Div(id="alerts-table", className="alerts-table"),
                        delay_show=300,
                    ),
                ],
            ),
        ],
    )


@callback(
    Output("alerts-device", "options"),
    Output("alerts-ticker", "options"),
    Input("alerts-init", "data"),
)
async def subjects(_init: int) -> tuple[list[str], list[str]]:
    """The devices and tickers the user may read, for the filters."""
    try:
        devices = await client.get("/api/devices", limit=1000)
        stocks = await client.get("/api/stocks", limit=1000)
    except client.ApiFailed:
        return [], []  # the table's own query shows the error
    return (
        [item["device_id"] for item in devices["items"]],
        [item["ticker"] for item in stocks["items"]],
    )


@callback(
    Output("alerts-rows", "data"),
    Output("alerts-error", "children"),
    Output(_FILTER, "data"),
    Input("alerts-state", "value"),
    Input("alerts-kind", "value"),
    Input("alerts-device", "value"),
    Input("alerts-ticker", "value"),
    Input("timerange", "data"),
    Input("live-reset", "data"),
)
async def load(
    state: str | None,
    kind: str | None,
    device_id: str | None,
    ticker: str | None,
    timerange: dict[str, Any] | None,
    _reset: int | None,
) -> tuple[Any, str, dict[str, Any]]:
    query = alerts_query.params(state, kind, device_id, ticker, timerange)
    follow = alerts_query.stream_filter(device_id, ticker)
    try:
        page = await client.get("/api/alerts", **query)
    except client.ApiFailed as failed:
        return None, f"Could not load alerts: {failed.message}", follow
    rows = {
        "items": page["items"],
        "total": page["total"],
        "query": query,
        "described": alerts_query.describe(query, timerange),
    }
    return rows, "", follow


@callback(
    Output("alerts-rows", "data", allow_duplicate=True),
    Output("alerts-error", "children", allow_duplicate=True),
    Input({"type": "alerts-ack", "alert": ALL}, "n_clicks"),
    State("alerts-rows", "data"),
    prevent_initial_call=True,
)
async def acknowledge(_clicks: list[int | None], rows: dict[str, Any] | None) -> tuple[Any, Any]:
    clicked = [t for t in dash.ctx.triggered if t.get("value")]
    target = dash.ctx.triggered_id
    if not clicked or not isinstance(target, dict) or rows is None:
        return dash.no_update, dash.no_update
    try:
        acked = await client.request("POST", f"/api/alerts/{int(target['alert'])}/ack")
    except client.ApiFailed as failed:
        return dash.no_update, f"Could not acknowledge alert {target['alert']}: {failed.message}"
    items = [acked if item["id"] == acked["id"] else item for item in rows["items"]]
    return {**rows, "items": items}, ""


@callback(
    Output("alerts-rows", "data", allow_duplicate=True),
    Output("alerts-error", "children", allow_duplicate=True),
    Output("alerts-notice", "children", allow_duplicate=True),
    Input("alerts-ack-all", "n_clicks"),
    State("alerts-rows", "data"),
    prevent_initial_call=True,
)
async def acknowledge_shown(clicks: int | None, rows: dict[str, Any] | None) -> tuple[Any, ...]:
    """POST /api/alerts/ack with the ids of the ACTIVE alerts shown, then the table again."""
    if not clicks or rows is None:
        return dash.no_update, dash.no_update, dash.no_update
    ids = [item["id"] for item in rows["items"] if item["state"] == "ACTIVE"]
    if not ids:
        return dash.no_update, "", "No ACTIVE alert is shown."
    try:
        acked = await client.request("POST", "/api/alerts/ack", json={"ids": ids})
        page = await client.get("/api/alerts", **rows["query"])
    except client.ApiFailed as failed:
        return dash.no_update, f"Could not acknowledge: {failed.message}", ""
    fresh = {**rows, "items": page["items"], "total": page["total"]}
    return fresh, "", f"{acked['acked']} acknowledged."


@callback(
    Output("alerts-notice", "children", allow_duplicate=True),
    Output("alerts-error", "children", allow_duplicate=True),
    Input({"type": "alerts-silence", "alert": ALL}, "n_clicks"),
    State("alerts-rows", "data"),
    prevent_initial_call=True,
)
async def silence_device(_clicks: list[int | None], rows: dict[str, Any] | None) -> tuple[Any, Any]:
    """Silence the clicked alert's device for an hour (the caller's channels only)."""
    clicked = [t for t in dash.ctx.triggered if t.get("value")]
    target = dash.ctx.triggered_id
    if not clicked or not isinstance(target, dict) or rows is None:
        return dash.no_update, dash.no_update
    alert = next((i for i in rows["items"] if i["id"] == target["alert"]), None)
    if alert is None or not alert["device_id"]:
        return dash.no_update, dash.no_update
    now = datetime.now(UTC)
    body = {
        "matchers": {"device_id": alert["device_id"]},
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "comment": f"from alert {alert['id']} ({alert['kind']})",
    }
    try:
        await client.request("POST", "/api/silences", json=body)
    except client.ApiFailed as failed:
        return "", f"Could not silence {alert['device_id']}: {failed.message}"
    until = (now + timedelta(hours=1)).strftime("%H:%M UTC")
    return f"Notifications for {alert['device_id']} silenced until {until}.", ""


clientside_callback(
    dash.ClientsideFunction("alerts", "merge"),
    Output("alerts-rows", "data", allow_duplicate=True),
    Input("live-events", "data"),
    State("alerts-rows", "data"),
    prevent_initial_call=True,
)

# The filters into the address (state, kind, device, ticker; the frame's parameters kept in
# place), so a filtered view can be shared; the page reads them back in `layout`.
clientside_callback(
    dash.ClientsideFunction("alerts", "address"),
    Output("url", "search", allow_duplicate=True),
    Input("alerts-state", "value"),
    Input("alerts-kind", "value"),
    Input("alerts-device", "value"),
    Input("alerts-ticker", "value"),
    State("url", "search"),
    prevent_initial_call=True,
)

clientside_callback(
    dash.ClientsideFunction("alerts", "render"),
    Output("alerts-table", "children"),
    Output("alerts-summary", "children"),
    Input("alerts-rows", "data"),
)
