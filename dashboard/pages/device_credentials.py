"""/devices/<device_id>/credentials: issue the device a new MQTT password (the old one stops
working at once), shown once like at creation."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import dash
from dash import Input, Output, State, callback, dcc, html

from dashboard import client
from dashboard.devices import credentials

dash.register_page(
    __name__,
    path_template="/devices/<device_id>/credentials",
    title="tickwire · device credentials",
    untimed=True,
)


def layout(device_id: str | None = None, **_query: Any) -> html.Div:
    return html.Div(
        className="tw-grid",
        children=[
            dcc.Store(id="rotate-device", data=device_id),
            dcc.ConfirmDialog(
                id="rotate-confirm",
                message=f"Issue a new password for {device_id}? The current one stops working "
                "at once and a connected device is disconnected.",
            ),
            html.Div(
                className="tw-panel wide",
                children=[
                    html.H3(f"MQTT credentials of {device_id}"),
                    html.P(
                        "The password was shown once, when the device was created. If it is "
                        "lost or leaked, issue a new one and give it to the device.",
                        className="tw-quiet",
                    ),
                    html.Div(
                        className="admin-actions",
                        children=[
                            html.Button(
                                "Issue a new password",
                                id="rotate-ask",
                                className="tw-button primary",
                            ),
                            dcc.Link(
                                "Back to the device",
                                href=f"/devices/{quote(device_id or '', safe='')}",
                            ),
                            html.Span(id="rotate-message", className="admin-message"),
                        ],
                    ),
                ],
            ),
            html.Div(id="rotate-credentials", className="tw-panel wide cred-holder"),
        ],
    )


@callback(
    Output("rotate-confirm", "displayed"),
    Input("rotate-ask", "n_clicks"),
    prevent_initial_call=True,
)
def ask(clicks: int | None) -> bool:
    return bool(clicks)


@callback(
    Output("rotate-message", "children"),
    Output("rotate-credentials", "children"),
    Input("rotate-confirm", "submit_n_clicks"),
    State("rotate-device", "data"),
    prevent_initial_call=True,
)
async def rotate(confirmed: int | None, device_id: str | None) -> Any:
    if not confirmed or not device_id:
        return dash.no_update, dash.no_update
    try:
        path = f"/api/devices/{quote(device_id, safe='')}/credentials"
        issued = await client.request("POST", path)
        broker = await client.get("/api/broker")
    except client.ApiFailed as failed:
        return html.Span(failed.message, className="tw-error"), dash.no_update
    done = html.Span("New password issued.", className="admin-done")
    return done, credentials.view(device_id, issued, broker)
