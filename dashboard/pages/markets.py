"""/markets: the watchlist as a live ticker tape with quotes, the selected ticker's candles +
volume with overlays and RSI/MACD panels from the indicators API (live, zoom → finer candles,
export; drawn by the candlestick panel, the toggles its `options.indicators`), and the
watchlist editor.

Live data stays in the browser (assets/markets.js): price events extend the chart and redraw
the tape. Python callbacks answer what the user does: the range, the ticker, a zoom, an edit.
"""

from __future__ import annotations

import uuid
from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, html
from dash.exceptions import PreventUpdate

from dashboard import client, frame, theme
from dashboard.boards import generated
from dashboard.boards import panels as boards_panels
from dashboard.markets import chart, data, edits, watch
from dashboard.markets import layout as components

dash.register_page(
    __name__, path="/markets", title="tickwire · markets", name="Markets", order=1, nav=True
)


def layout(show: str | None = None, **_query: Any) -> html.Div:
    """The page; `show=sma,rsi,…` chooses the overlays and panels (unknown ones ignored)."""
    return components.page(chart.chosen(show if isinstance(show, str) else None))


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


# The watchlist's buttons → `markets-watch-do` in the browser (markets.js `watchClick`), which
# the edit reads: its rows arrive with the tape callback's answer, and a server callback with
# them as inputs was called then, at every load (its outputs were in the page already).
dash.clientside_callback(
    dash.ClientsideFunction("markets", "watchClick"),
    Output("markets-watch-do", "data"),
    Input("markets-add", "n_clicks"),
    Input({"type": "markets-save", "ticker": ALL}, "n_clicks"),
    Input({"type": "markets-remove", "ticker": ALL}, "n_clicks"),
    Input({"type": "markets-offer", "ticker": ALL}, "n_clicks"),
    prevent_initial_call=True,
)


@dash.callback(
    Output("markets-watch-version", "data"),
    Output("markets-watch-message", "children"),
    inputs={"clicked": Input("markets-watch-do", "data")},
    state={
        "ticker": State("markets-add-ticker", "value"),
        "above": State("markets-add-above", "value"),
        "below": State("markets-add-below", "value"),
        "_aboves": State({"type": "markets-above", "ticker": ALL}, "value"),
        "_belows": State({"type": "markets-below", "ticker": ALL}, "value"),
        "version": State("markets-watch-version", "data"),
    },
    prevent_initial_call=True,
)
async def edit_watchlist(
    clicked: dict[str, Any] | None,
    ticker: str | None,
    above: Any,
    below: Any,
    _aboves: list[Any],
    _belows: list[Any],
    version: int | None,
) -> tuple[Any, Any]:
    """The change the clicked button (`clicked["id"]`) asks for (the rows' levels come with
    their tickers, from `ctx.args_grouping`); the version bumped so the watchlist reloads, and
    a message."""
    button = clicked.get("id") if isinstance(clicked, dict) else None
    if not edits.is_button(button):
        return dash.no_update, dash.no_update
    rows = ctx.args_grouping
    aboves, belows = edits.by_ticker(rows["_aboves"]), edits.by_ticker(rows["_belows"])
    try:
        message = await edits.act(button, (ticker, above, below), aboves, belows)
    except client.ApiFailed as failed:
        return dash.no_update, html.Span(failed.message, className="tw-error")
    return (version or 0) + 1, message


@dash.callback(
    Output("markets-chart", "figure"),
    Output("markets-chart", "style"),
    Output("markets-meta", "data"),
    Output("markets-title", "children"),
    Output("markets-resolution", "children"),
    Output("markets-export", "children"),
    Output("markets-chart-error", "children"),
    Input("markets-selected", "data"),
    Input("timerange", "data"),
    Input("live-reset", "data"),
    Input("markets-overlays", "value"),
)
async def load_chart(
    ticker: str | None, timerange: Any, _reset: Any, overlays: Any
) -> tuple[Any, ...]:
    """The selected ticker's candles over the frame's range, with the API's indicators on them.
    A zoom sets that range (the URL's from/to: tickwire.js `zoomRange`), so the bar, the export
    and a shared link all follow it."""
    if timerange is None or ticker is None:
        raise PreventUpdate
    show = chart.checked(overlays)
    style = {"height": f"{chart.height(show)}px"}
    if not ticker:
        note = html.Div("Add a stock to the watchlist to see its chart.", className="tw-empty")
        return theme.figure(), style, None, "Chart", "", [], note
    tz = frame.zone(timerange)
    start, end = frame.window(timerange)
    try:
        model = generated.ticker(ticker, timerange, chart.options(show))
        body, series, why = await data.chart(ticker, start, end, chart.NAMES)
    except (client.ApiFailed, ValueError) as failed:
        said = failed.message if isinstance(failed, client.ApiFailed) else "no such ticker"
        error = html.Div(f"Could not load {ticker}: {said}", className="tw-error")
        return dash.no_update, style, None, ticker, "", [], error
    notes: list[Any] = []
    if why is not None:
        notes.append(html.Div(f"No indicators: {why}", className="tw-error"))
    candles = body["candles"]
    rev = f"{ticker}|{timerange.get('range')}|{timerange.get('start')}|{timerange.get('refresh')}"
    # Drawn by the candlestick panel of the page's model (dashboard/boards/generated.py), whose
    # `options.indicators` are the toggles chosen; every toggle's lines laid out (the others
    # hidden) so markets.js' trace indices stay fixed. Times in the page's zone, `meta` keeps
    # the instants.
    panel = next(p for p in model["panels"] if p["type"] == "candlestick")
    revision = f"{rev}|{tz}|{','.join(show)}"
    offered = list(chart.OFFERED.values())
    figure = boards_panels.candle_figure(
        panel, ticker, candles, tz, revision, None, (series, offered)
    )
    meta = chart.meta(ticker, body, bool(timerange.get("live")))
    links = components.export_links(data.export_links(ticker, start, end))
    if not candles:
        notes.append(html.Div(f"No prices for {ticker} in this range.", className="tw-empty"))
    fixed = timerange.get("range") == "custom"
    resolution = chart.resolution(body, fixed)
    return figure, style, meta, ticker, resolution, links, notes or None


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

# The chosen overlays and panels → the URL's `show=` (the chart callback reads the checklist).
dash.clientside_callback(
    dash.ClientsideFunction("markets", "show"),
    Output("url", "search", allow_duplicate=True),
    Input("markets-overlays", "value"),
    State("url", "search"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    dash.ClientsideFunction("tickwire", "zoom"),
    Output("markets-zoom", "data"),
    Input("markets-chart", "relayoutData"),
    prevent_initial_call=True,
)

# A zoom is the page's range: from/to in the URL (a double-click goes back to the range before).
dash.clientside_callback(
    dash.ClientsideFunction("tickwire", "zoomRange"),
    Output("url", "search", allow_duplicate=True),
    Input("markets-zoom", "data"),
    State("url", "search"),
    prevent_initial_call=True,
)


@dash.callback(
    Output({"type": "go", "page": "markets"}, "data"),
    Output("markets-save-note", "children"),
    Input("markets-save-as", "n_clicks"),
    State("markets-selected", "data"),
    State("timerange", "data"),
    State("markets-overlays", "value"),
    prevent_initial_call=True,
)
async def save_as(
    clicks: int | None, ticker: str | None, timerange: Any, overlays: Any
) -> tuple[Any, Any]:
    """ "Save as dashboard": the charted ticker's model (dashboard/boards/generated.py), with
    the indicators shown, as the user's own dashboard, then /d/<uid>."""
    if not clicks:
        return dash.no_update, dash.no_update
    show = chart.checked(overlays)
    try:
        model = generated.ticker(ticker or "", timerange, chart.options(show))
    except ValueError:  # none charted, or the address's `ticker=` is no ticker at all
        return dash.no_update, "Pick a ticker first." if not ticker else "No such ticker."
    return await generated.save_as(clicks, model)
