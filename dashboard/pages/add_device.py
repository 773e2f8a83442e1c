"""/devices/new: create a device and get its MQTT credentials, shown once (with a ready
`mosquitto_pub` line); /devices/<id>/credentials issues new ones."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, callback, dcc, html

from dashboard import client
from dashboard.devices import credentials

dash.register_page(__name__, path="/devices/new", title="tickwire · add a device", untimed=True)


def _field(label: str, ident: str, hint: str) -> html.Label:
    control = dcc.Input(id=ident, type="text", placeholder=hint, className="tw-input")
    return html.Label(className="admin-field", children=[html.Span(label), control])


layout = html.Div(
    className="tw-grid new-device",
    children=[
        html.Div(
            className="tw-panel wide",
            children=[
                html.H3("Add a device"),
                html.P(
                    "A device publishes its readings over MQTT with its own login. Create it "
                    "here to get that login; it is yours (other users do not see it).",
                    className="tw-quiet",
                ),
                html.Div(
                    className="admin-fields",
                    children=[
                        _field("Id", "new-device-id", "e.g. greenhouse-1 (letters, digits, - _ .)"),
                        _field("Name", "new-device-name", "default: the id"),
                        _field("Kind", "new-device-kind", "sensor, feed, gateway…"),
                        _field("Tickers", "new-device-tickers", "prices it publishes: AAPL, MSFT"),
                    ],
                ),
                html.Div(
                    className="admin-actions",
                    children=[
                        html.Button(
                            "Create device", id="new-device-create", className="tw-button primary"
                        ),
                        html.Span(id="new-device-message", className="admin-message"),
                    ],
                ),
            ],
        ),
        html.Div(id="new-device-credentials", className="tw-panel wide cred-holder"),
    ],
)


def body(device_id: Any, name: Any, kind: Any, tickers: Any) -> dict[str, Any]:
    """The POST /api/devices body from the form (empty fields left to the API's defaults)."""
    result: dict[str, Any] = {"device_id": str(device_id or "").strip()}
    if name and str(name).strip():
        result["name"] = str(name).strip()
    if kind and str(kind).strip():
        result["kind"] = str(kind).strip()
    listed = [t.strip().upper() for t in str(tickers or "").split(",") if t.strip()]
    if listed:
        result["tickers"] = listed
    return result


@callback(
    Output("new-device-message", "children"),
    Output("new-device-credentials", "children"),
    Input("new-device-create", "n_clicks"),
    State("new-device-id", "value"),
    State("new-device-name", "value"),
    State("new-device-kind", "value"),
    State("new-device-tickers", "value"),
    prevent_initial_call=True,
)
async def create(clicks: int | None, device_id: Any, name: Any, kind: Any, tickers: Any) -> Any:
    if not clicks:
        return dash.no_update, dash.no_update
    wanted = body(device_id, name, kind, tickers)
    if not wanted["device_id"]:
        return html.Span("Give the device an id.", className="tw-error"), dash.no_update
    try:
        created = await client.request("POST", "/api/devices", json=wanted)
        broker = await client.get("/api/broker")
    except client.ApiFailed as failed:
        return html.Span(failed.message, className="tw-error"), dash.no_update
    done = html.Span(f"Created device {created['device_id']}.", className="admin-done")
    return done, credentials.view(created["device_id"], created.get("credentials"), broker)
