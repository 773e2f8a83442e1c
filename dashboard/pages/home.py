"""/: the markets page is home."""

from __future__ import annotations

import dash
from dash import dcc, html

from dashboard import frame

dash.register_page(__name__, path="/", title="tickwire")

layout = html.Div(
    [
        dcc.Location(id="home-go", href=frame.HOME, refresh="callback-nav"),
    ]
)
