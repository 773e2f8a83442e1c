"""/welcome: where a new account lands — what to do first, each step a link to the page that
does it."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

dash.register_page(__name__, path="/welcome", title="tickwire · welcome", untimed=True)


def _step(number: int, title: str, text: str, href: str, action: str) -> html.Li:
    return html.Li(
        className="welcome-step",
        children=[
            html.Div(str(number), className="welcome-number"),
            html.Div(
                [
                    html.H3(title),
                    html.P(text, className="tw-quiet"),
                    dcc.Link(action, href=href, className="tw-button primary"),
                ]
            ),
        ],
    )


STEPS = [
    (
        "Add a device and get its credentials",
        "Register a device: you get its MQTT login and a ready mosquitto_pub line to send a "
        "first reading. Its data then shows on the Devices page, live.",
        "/devices/new",
        "Add a device",
    ),
    (
        "Add tickers to your watchlist",
        "On the Markets page, add the tickers you follow: live prices, candles and indicators, "
        "and alerts when a price crosses the levels you set.",
        "/markets",
        "Open Markets",
    ),
    (
        "Set alert rules",
        "Be told when a metric crosses a threshold or a price moves: rules on your devices and "
        "tickers, acknowledged on the Alerts page.",
        "/rules",
        "Alert rules",
    ),
    (
        "Build a dashboard",
        "Dashboards of your own panels are not built yet. Until then the Markets and Devices "
        "pages are your dashboards: pick a range, zoom, export, share the link.",
        "/devices",
        "Open Devices",
    ),
]

layout = html.Div(
    className="welcome",
    children=[
        html.H2(id="welcome-title", children="Welcome to tickwire"),
        html.P(
            "You are signed in. Here is what to do first; every step is one page away "
            "(the links in the top bar lead there too).",
            className="tw-quiet",
        ),
        html.Ol(
            className="welcome-steps",
            children=[_step(n, *step) for n, step in enumerate(STEPS, start=1)],
        ),
    ],
)


@callback(Output("welcome-title", "children"), Input("me", "data"))
def greet(me: dict[str, Any] | None) -> str:
    return f"Welcome to tickwire, {me['email']}" if me else "Welcome to tickwire"
