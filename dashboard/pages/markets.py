"""/markets: the watchlist as a live ticker tape, the selected ticker's candles + volume with
overlays (live, zoom → finer candles, export), and the watchlist editor.

Live data stays in the browser (assets/markets.js): price events extend the chart and redraw
the tape. Python callbacks answer what the user does: the range, the ticker, a zoom, an edit.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import client, frame, theme
from dashboard.markets import chart, data, watch

dash.register_page(__name__, path="/markets", title="tickwire · markets")

CONFIG: Any = {"displaylogo": False, "scrollZoom": False}


def _chart_panel() -> html.Div:
    return html.Div(
        className="tw-panel wide",
        children=[
            html.Div(
                className="markets-head",
                children=[
                    html.H3(id="markets-title", children="Chart"),
                    dcc.Checklist(
                        id="markets-overlays",
                        options=[{"label": f" {n}", "value": k} for k, n in chart.OVERLAYS],
                        value=["sma"],
                        inline=True,
                        className="markets-overlays",
                    ),
                    html.Span(id="markets-resolution", className="markets-resolution"),
                    html.Span(id="markets-export", className="markets-export"),
                ],
            ),
            html.Div(id="markets-chart-error"),
            dcc.Loading(
                delay_show=300,
                children=dcc.Graph(
                    id="markets-chart",
                    figure=theme.figure(),
                    config=CONFIG,
                    style={"height": "520px"},
                ),
            ),
        ],
    )


def _watch_panel() -> html.Div:
    return html.Div(
        className="tw-panel wide",
        children=[
            html.H3("Watchlist"),
            html.Div(
                className="markets-add",
                children=[
                    dcc.Dropdown(
                        id="markets-add-ticker",
                        placeholder="stock…",
                        className="markets-add-ticker",
                    ),
                    dcc.Input(
                        id="markets-add-above",
                        type="number",
                        placeholder="alert above",
                        className="tw-input markets-level",
                    ),
                    dcc.Input(
                        id="markets-add-below",
                        type="number",
                        placeholder="alert below",
                        className="tw-input markets-level",
                    ),
                    html.Button("Add", id="markets-add", className="tw-button primary"),
                    html.Span(id="markets-watch-message"),
                ],
            ),
            dcc.Loading(delay_show=300, children=html.Div(id="markets-editor")),
        ],
    )


layout = html.Div(
    [
        frame.live_filter("markets"),
        dcc.Store(id="markets-watch-version", data=0),
        dcc.Store(id="markets-selected"),
        dcc.Store(id="markets-tape"),
        dcc.Store(id="markets-tape-drawn"),
        dcc.Store(id="markets-meta"),
        dcc.Store(id="markets-view"),
        dcc.Store(id="markets-zoom"),
        html.Div(
            className="tw-grid",
            children=[
                html.Div(
                    className="tw-panel wide",
                    children=[
                        html.Div(id="markets-watch-error"),
                        dcc.Loading(
                            delay_show=300,
                            children=html.Div(id="markets-tape-row", className="markets-tape"),
                        ),
                    ],
                ),
                _chart_panel(),
                _watch_panel(),
            ],
        ),
    ]
)


@dash.callback(
    Output("markets-tape-row", "children"),
    Output("markets-tape", "data"),
    Output("markets-editor", "children"),
    Output("markets-add-ticker", "options"),
    Output("markets-watch-error", "children"),
    Input("markets-watch-version", "data"),
    Input("timerange", "data"),
)
async def load_watchlist(_version: int, timerange: Any) -> tuple[Any, ...]:
    """The tape and the editor. Which ticker is charted is the URL's (`ticker=`) or else the
    tape's first: markets.js `select`, so a click on the tape re-renders nothing here."""
    if timerange is None:
        raise PreventUpdate
    try:
        entries, available = await data.watchlist(), await data.stocks()
        tickers = [e["ticker"] for e in entries]
        start, end = frame.window(timerange)
        items = await data.tape(tickers, start, end)
    except client.ApiFailed as failed:
        error = html.Div(f"Could not load the watchlist: {failed.message}", className="tw-error")
        return [], None, [], [], error
    row: Any = watch.tape(entries) if entries else watch.empty(available)
    tape_data = {"version": uuid.uuid4().hex, "tickers": tickers, "items": items}
    options = watch.choices(available, set(tickers))
    return row, tape_data, watch.editor(entries), options, None


def _levels(ticker: str, above: Any, below: Any) -> dict[str, Any]:
    return {
        "ticker": ticker,
        "alert_above": None if above in (None, "") else float(above),
        "alert_below": None if below in (None, "") else float(below),
    }


def _value_for(ticker: str, states: list[dict[str, Any]]) -> Any:
    for state in states:
        if state["id"]["ticker"] == ticker:
            return state.get("value")
    return None


async def _act(trigger: Any, add: tuple[Any, Any, Any]) -> str:
    """The watchlist change a button asks for; a message for the page."""
    if trigger == "markets-add":
        ticker, above, below = add
        if not ticker:
            return "Choose a stock to add."
        await client.request("POST", "/api/watchlist", json=_levels(ticker, above, below))
        return f"Added {ticker}."
    kind, ticker = trigger["type"], trigger["ticker"]
    if kind == "markets-remove":
        await client.request("DELETE", f"/api/watchlist/{ticker}")
        return f"Removed {ticker}."
    if kind == "markets-offer":
        await client.request("POST", "/api/watchlist", json={"ticker": ticker})
        return f"Added {ticker}."
    above = _value_for(ticker, ctx.states_list[3])
    below = _value_for(ticker, ctx.states_list[4])
    await client.request("POST", "/api/watchlist", json=_levels(ticker, above, below))
    return f"Saved the alert levels of {ticker}."


@dash.callback(
    Output("markets-watch-version", "data"),
    Output("markets-watch-message", "children"),
    Input("markets-add", "n_clicks"),
    Input({"type": "markets-save", "ticker": ALL}, "n_clicks"),
    Input({"type": "markets-remove", "ticker": ALL}, "n_clicks"),
    Input({"type": "markets-offer", "ticker": ALL}, "n_clicks"),
    State("markets-add-ticker", "value"),
    State("markets-add-above", "value"),
    State("markets-add-below", "value"),
    State({"type": "markets-above", "ticker": ALL}, "value"),
    State({"type": "markets-below", "ticker": ALL}, "value"),
    State("markets-watch-version", "data"),
    prevent_initial_call=True,
)
async def edit_watchlist(*args: Any) -> tuple[Any, Any]:
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    add = (args[4], args[5], args[6])
    try:
        message = await _act(ctx.triggered_id, add)
    except client.ApiFailed as failed:
        return dash.no_update, html.Span(failed.message, className="tw-error")
    return (args[-1] or 0) + 1, message


def _view(trigger: Any, zoom: Any, view: Any) -> Any:
    """The zoomed range to show ([start, end] ISO), or None for the frame's range."""
    if trigger == "markets-zoom":
        if not zoom or zoom.get("reset"):
            return None
        try:
            return [frame.from_wall(zoom["start"]), frame.from_wall(zoom["end"])]
        except (KeyError, ValueError):
            raise PreventUpdate from None
    if trigger in ("markets-overlays", "live-reset"):
        return view
    return None


@dash.callback(
    Output("markets-chart", "figure"),
    Output("markets-meta", "data"),
    Output("markets-view", "data"),
    Output("markets-title", "children"),
    Output("markets-resolution", "children"),
    Output("markets-export", "children"),
    Output("markets-chart-error", "children"),
    Input("markets-selected", "data"),
    Input("timerange", "data"),
    Input("live-reset", "data"),
    Input("markets-overlays", "value"),
    Input("markets-zoom", "data"),
    State("markets-view", "data"),
)
async def load_chart(
    ticker: str | None, timerange: Any, _reset: Any, overlays: Any, zoom: Any, view: Any
) -> tuple[Any, ...]:
    """The selected ticker's candles over the frame's range, or the zoomed range (`zoom`, from
    tickwire.js: only a change of the x range re-fetches, never an autosize)."""
    if timerange is None or ticker is None:
        raise PreventUpdate
    if not ticker:
        note = html.Div("Add a stock to the watchlist to see its chart.", className="tw-empty")
        return theme.figure(), None, None, "Chart", "", [], note
    view = _view(ctx.triggered_id, zoom, view)
    start, end = view if view else frame.window(timerange)
    try:
        body = await data.history(ticker, start, end, data.CHART_POINTS)
    except client.ApiFailed as failed:
        error = html.Div(f"Could not load {ticker}: {failed.message}", className="tw-error")
        return dash.no_update, None, view, ticker, "", [], error
    candles = body["candles"]
    rev = f"{ticker}|{timerange.get('range')}|{timerange.get('start')}|{timerange.get('refresh')}"
    figure = chart.figure(ticker, candles, overlays or [], rev)
    meta = _meta(ticker, body, view is None and bool(timerange.get("live")))
    links = [
        html.A(f, href=h, download="", className="tw-button")
        for f, h in data.export_links(ticker, start, end)
    ]
    empty = f"No prices for {ticker} in this range."
    notice = None if candles else html.Div(empty, className="tw-empty")
    return figure, meta, view, ticker, _resolution(body, view), ["Export ", *links], notice


def _meta(ticker: str, body: dict[str, Any], live: bool) -> dict[str, Any]:
    span_ms = _ms(body["end"]) - _ms(body["start"])
    interval = body.get("interval_ms") or 1000
    return {
        "version": uuid.uuid4().hex,
        "ticker": ticker,
        "live": live,
        "interval_ms": interval,
        "end_ms": _ms(body["end"]),
        "max_points": max(len(body["candles"]), span_ms // interval),
        **chart.live_state(body["candles"]),
    }


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _resolution(body: dict[str, Any], view: Any) -> str:
    count = len(body["candles"])
    text = f"{count} candles of {body.get('interval') or 'raw'} · from {body['source']}"
    return text + (" · zoomed: live paused, double-click to reset" if view else "")


dash.clientside_callback(
    dash.ClientsideFunction("markets", "liveChart"),
    Output("markets-chart", "extendData"),
    Input("live-events", "data"),
    State("markets-meta", "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    dash.ClientsideFunction("markets", "tape"),
    Output("markets-tape-drawn", "data"),
    Input("live-events", "data"),
    Input("markets-tape", "data"),
    Input("markets-selected", "data"),
)

# The URL's `ticker=` (or the tape's first) → the charted ticker and the stream's filter (the
# watched tickers and the charted one); a click on the tape writes the URL. Neither re-renders
# the page: `url` pushes the address without Dash Pages navigating.
dash.clientside_callback(
    dash.ClientsideFunction("markets", "select"),
    Output("markets-selected", "data"),
    Output({"type": "live-filter", "page": "markets"}, "data"),
    Input("url", "search"),
    Input("markets-tape", "data"),
    State("markets-selected", "data"),
    State({"type": "live-filter", "page": "markets"}, "data"),
)

dash.clientside_callback(
    dash.ClientsideFunction("markets", "pick"),
    Output("url", "search", allow_duplicate=True),
    Input({"type": "markets-tick", "ticker": ALL}, "n_clicks"),
    State("url", "search"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    dash.ClientsideFunction("tickwire", "zoom"),
    Output("markets-zoom", "data"),
    Input("markets-chart", "relayoutData"),
    prevent_initial_call=True,
)
