"""/scanner: the market scanner (`GET /api/market/scanner`): gainers, losers, most active,
unusual volume, breakouts and the overview over a window (`?window=5m|1h|24h|7d`, anything
else reads as the default), refreshed every few seconds; each ticker opens it on /markets.

The window is the page's own, not the frame's time range (the frame hides its picker here).
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, callback, clientside_callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import client
from dashboard.scanner import view
from tickwire.scanner_windows import DEFAULT_WINDOW, WINDOWS

dash.register_page(
    __name__,
    path="/scanner",
    title="tickwire · scanner",
    name="Scanner",
    order=1.5,
    nav=True,
    untimed=True,  # the window is the page's own: the frame hides its picker
)

REFRESH_MS = 5000
"""How often the lists are asked again (a poll: one database statement per ask)."""
LIMIT = 10


def window_of(asked: Any) -> str:
    """The URL's `window=`, or the default for anything that is not one of the windows."""
    return asked if isinstance(asked, str) and asked in WINDOWS else DEFAULT_WINDOW


def layout(window: Any = None, **_query: Any) -> html.Div:
    return html.Div(
        className="tw-grid",
        children=[
            dcc.Interval(id="scanner-refresh", interval=REFRESH_MS),
            html.Div(
                className="tw-panel wide scanner-head",
                children=[
                    html.H3("Scanner"),
                    dcc.RadioItems(
                        id="scanner-window",
                        options=[
                            {"label": f" {view.WINDOW_NAMES[w]}", "value": w} for w in WINDOWS
                        ],
                        value=window_of(window),
                        inline=True,
                        className="scanner-window",
                    ),
                    html.Span(id="scanner-overview", className="scanner-overview"),
                ],
            ),
            html.Div(id="scanner-error", className="wide"),
            html.Div(id="scanner-lists", className="scanner-lists wide"),
        ],
    )


@callback(
    Output("scanner-lists", "children"),
    Output("scanner-overview", "children"),
    Output("scanner-error", "children"),
    Input("scanner-window", "value"),
    Input("scanner-refresh", "n_intervals"),
    State("url", "search"),
)
async def load(window: Any, _ticks: Any, search: str | None) -> tuple[Any, ...]:
    """The lists over the chosen window, again every `REFRESH_MS`."""
    if window is None:
        raise PreventUpdate
    window = window_of(window)
    try:
        body = await client.get("/api/market/scanner", window=window, limit=LIMIT)
    except client.ApiFailed as failed:
        error = html.Div(f"Could not scan the market: {failed.message}", className="tw-error")
        return dash.no_update, dash.no_update, error
    tables = [
        view.table(name, title, body[name], window, search or "") for name, title in view.LISTS
    ]
    return tables, view.overview(body, window), None


# The chosen window → the URL's `window=` (the default left out), without re-rendering the page.
clientside_callback(
    dash.ClientsideFunction("scanner", "address"),
    Output("url", "search", allow_duplicate=True),
    Input("scanner-window", "value"),
    State("url", "search"),
    prevent_initial_call=True,
)
