"""/portfolio: pick, create, rename or delete a portfolio; its totals and holdings with live
P&L and day change, the allocation, its value over the frame's range, and its transactions
(add, delete).

Live (assets/portfolio.js): the page's stream follows `portfolios=<id>`; each `portfolio`
event (at most one a second) writes the totals at once and bumps `portfolio-live`, which
reloads the holdings rows (per-ticker numbers the event does not carry); the value chart
grows by the event's market value. Python callbacks answer what the user does and that
reload.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import dash
from dash import ALL, Input, Output, State, ctx, dcc, html

from dashboard import client, frame, theme
from dashboard.portfolio import data, view

dash.register_page(
    __name__,
    path="/portfolio",
    title="tickwire · portfolio",
    name="Portfolio",
    order=1.8,
    nav=True,
)


def layout(**_query: Any) -> html.Div:
    return html.Div(
        className="portfolio-page",
        children=[
            frame.live_filter("portfolio", kinds=["portfolio"]),
            dcc.Store(id="portfolio-version", data={"n": 0, "pick": None}),
            dcc.Store(id="portfolio-changed", data=0),
            dcc.Store(id="portfolio-live", data=0),
            dcc.Store(id="portfolio-totals"),
            dcc.Store(id="portfolio-points"),
            html.Div(
                className="tw-panel wide portfolio-head",
                children=[
                    dcc.Dropdown(
                        id="portfolio-pick",
                        placeholder="No portfolio yet",
                        clearable=False,
                        className="portfolio-pick",
                    ),
                    dcc.Input(id="portfolio-name", placeholder="Name", className="tw-input"),
                    html.Button("Create", id="portfolio-create", className="tw-button primary"),
                    html.Button("Rename", id="portfolio-rename", className="tw-button"),
                    html.Button("Delete", id="portfolio-delete", className="tw-button tw-quiet"),
                    html.Span(id="portfolio-message"),
                ],
            ),
            view.totals_row(),
            html.Div(id="portfolio-error"),
            html.Div(
                className="portfolio-grid",
                children=[
                    html.Div(
                        className="tw-panel",
                        children=[html.H3("Holdings"), html.Div(id="portfolio-holdings")],
                    ),
                    html.Div(
                        className="tw-panel",
                        children=[
                            html.H3("Allocation"),
                            dcc.Graph(
                                id="portfolio-allocation",
                                figure=theme.figure(),
                                config=view.CONFIG,
                                style={"height": "280px"},
                            ),
                        ],
                    ),
                ],
            ),
            html.Div(
                className="tw-panel wide",
                children=[
                    html.H3("Value"),
                    html.Div(id="portfolio-value-error"),
                    dcc.Graph(
                        id="portfolio-value",
                        figure=theme.figure(),
                        config=view.CONFIG,
                        style={"height": "300px"},
                    ),
                ],
            ),
            html.Div(
                className="tw-panel wide",
                children=[
                    html.H3("Transactions"),
                    html.Div(id="portfolio-form"),
                    html.Div(id="portfolio-transactions"),
                ],
            ),
        ],
    )


def _asked(search: str | None) -> int | None:
    """The URL's `portfolio=`, if it is an id."""
    found = parse_qs((search or "").lstrip("?")).get("portfolio", [""])[0]
    return int(found) if found.isdigit() and len(found) < 19 else None


@dash.callback(
    Output("portfolio-pick", "options"),
    Output("portfolio-pick", "value"),
    Output("portfolio-form", "children"),
    Output("portfolio-error", "children", allow_duplicate=True),
    Input("portfolio-version", "data"),
    State("url", "search"),
    State("portfolio-pick", "value"),
    prevent_initial_call="initial_duplicate",
)
async def load_list(version: dict[str, Any], search: str | None, current: Any) -> tuple[Any, ...]:
    """The caller's portfolios; the one picked: just created, else the URL's, else the one
    shown, else the first."""
    try:
        items, tickers = await data.portfolios(), await data.tickers()
    except client.ApiFailed as failed:
        error = html.Div(f"Could not load portfolios: {failed.message}", className="tw-error")
        return [], None, [], error
    options = [{"label": p["name"], "value": p["id"]} for p in items]
    ids = [p["id"] for p in items]
    wanted = [(version or {}).get("pick"), _asked(search), current]
    pick = next((w for w in wanted if w in ids), ids[0] if ids else None)
    return options, pick, view.transaction_form(tickers), None


@dash.callback(
    Output("portfolio-version", "data"),
    Output("portfolio-message", "children"),
    Input("portfolio-create", "n_clicks"),
    Input("portfolio-rename", "n_clicks"),
    Input("portfolio-delete", "n_clicks"),
    State("portfolio-name", "value"),
    State("portfolio-pick", "value"),
    State("portfolio-version", "data"),
    prevent_initial_call=True,
)
async def act(
    _create: Any, _rename: Any, _delete: Any, name: str | None, pick: Any, version: Any
) -> tuple[Any, Any]:
    """Create (and pick), rename or delete; the list reloads."""
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        return dash.no_update, dash.no_update  # no PreventUpdate: see docs/dashboard.md
    clicked = ctx.triggered_id
    n = (version or {}).get("n", 0) + 1
    name = (name or "").strip()
    try:
        if clicked == "portfolio-create":
            if not name:
                return dash.no_update, _error("Enter a name for the new portfolio.")
            made = await data.create(name)
            return {"n": n, "pick": made["id"]}, f"Created {name}."
        if pick is None:
            return dash.no_update, _error("Create a portfolio first.")
        if clicked == "portfolio-rename":
            if not name:
                return dash.no_update, _error("Enter the new name.")
            await data.rename(pick, name)
            return {"n": n, "pick": pick}, f"Renamed to {name}."
        await data.delete(pick)
        return {"n": n, "pick": None}, "Deleted."
    except client.ApiFailed as failed:
        return dash.no_update, _error(_said(failed))


@dash.callback(
    Output("portfolio-holdings", "children"),
    Output("portfolio-allocation", "figure"),
    Output("portfolio-totals", "data"),
    Output("portfolio-error", "children"),
    Input("portfolio-pick", "value"),
    Input("portfolio-changed", "data"),
    Input("portfolio-live", "data"),
    Input("live-reset", "data"),
)
async def load_holdings(pick: Any, _changed: Any, _live: Any, _reset: Any) -> tuple[Any, ...]:
    if pick is None:
        empty = html.Div("Create a portfolio to start.", className="tw-empty")
        return empty, theme.figure(), None, None
    try:
        held = await data.holdings(pick)
    except client.ApiFailed as failed:
        error = html.Div(f"Could not load holdings: {failed.message}", className="tw-error")
        return dash.no_update, dash.no_update, None, error
    totals = {"portfolio_id": pick, "totals": held["totals"]}
    return view.holdings_table(held["items"]), view.allocation(held["items"]), totals, None


@dash.callback(
    Output("portfolio-transactions", "children"),
    Input("portfolio-pick", "value"),
    Input("portfolio-changed", "data"),
    Input("timerange", "data"),
)
async def load_transactions(pick: Any, _changed: Any, timerange: Any) -> Any:
    if pick is None:
        return None
    try:
        items = await data.transactions(pick)
    except client.ApiFailed as failed:
        return _error(f"Could not load transactions: {failed.message}")
    return view.transactions_table(items, frame.zone(timerange))


@dash.callback(
    Output("portfolio-value", "figure"),
    Output("portfolio-value-error", "children"),
    Input("portfolio-pick", "value"),
    Input("portfolio-points", "data"),
    Input("portfolio-changed", "data"),
    Input("live-reset", "data"),
    State("timerange", "data"),
)
async def load_value(
    pick: Any, points: Any, _changed: Any, _reset: Any, timerange: Any
) -> tuple[Any, Any]:
    """The value over the frame's range, about one point per pixel of the plot."""
    if pick is None or timerange is None or not points:
        return dash.no_update, dash.no_update  # no PreventUpdate: see docs/dashboard.md
    start, end = frame.window(timerange)
    tz = frame.zone(timerange)
    try:
        body = await data.value(pick, start, end, int(points["points"]))
    except client.ApiFailed as failed:
        return dash.no_update, _error(f"Could not load the value: {failed.message}")
    revision = f"{pick}|{timerange.get('range')}|{timerange.get('start')}|{tz}"
    return view.value_figure(body, tz, revision), None


@dash.callback(
    output=[Output("portfolio-changed", "data"), Output("portfolio-tx-message", "children")],
    inputs={"clicks": Input("portfolio-tx-add", "n_clicks")},
    state={
        "pick": State("portfolio-pick", "value"),
        "form": {
            field: State(f"portfolio-tx-{field}", "value")
            for field in ("ticker", "side", "quantity", "price", "time", "fee")
        },
        "changed": State("portfolio-changed", "data"),
        "timerange": State("timerange", "data"),
    },
    prevent_initial_call=True,
)
async def add_transaction(
    clicks: Any, pick: Any, form: dict[str, Any], changed: Any, timerange: Any
) -> tuple[Any, Any]:
    """The API checks the body (insufficient_quantity, unknown_ticker…): its error is shown
    next to the form, with its code."""
    if not clicks:
        return dash.no_update, dash.no_update  # no PreventUpdate: see docs/dashboard.md
    if pick is None:
        return dash.no_update, _error("Create a portfolio first.")
    ticker, quantity, price = form["ticker"], form["quantity"], form["price"]
    if not ticker or quantity is None or price is None:
        return dash.no_update, _error("Ticker, quantity and price are needed.")
    body: dict[str, Any] = {"ticker": ticker, "side": form["side"], "quantity": quantity}
    body |= {"price": price, "fee": form["fee"] or 0}
    when = str(form["time"] or "").strip()
    if when:
        try:
            body["time"] = frame.from_wall(when, frame.zone(timerange))
        except ValueError:
            return dash.no_update, _error("Time: YYYY-MM-DD HH:MM (or empty for now).")
    try:
        await data.add_transaction(pick, body)
    except client.ApiFailed as failed:
        return dash.no_update, _error(_said(failed))
    return (changed or 0) + 1, f"Added: {form['side']} {quantity:g} {ticker} at {price:g}."


@dash.callback(
    Output("portfolio-changed", "data", allow_duplicate=True),
    Output("portfolio-tx-message", "children", allow_duplicate=True),
    Input({"type": "portfolio-tx-delete", "tx": ALL}, "n_clicks"),
    State("portfolio-pick", "value"),
    State("portfolio-changed", "data"),
    prevent_initial_call=True,
)
async def delete_transaction(_clicks: Any, pick: Any, changed: Any) -> tuple[Any, Any]:
    if not ctx.triggered or not ctx.triggered[0].get("value") or pick is None:
        return dash.no_update, dash.no_update  # no PreventUpdate: see docs/dashboard.md
    try:
        await data.delete_transaction(pick, int(ctx.triggered_id["tx"]))
    except client.ApiFailed as failed:
        return dash.no_update, _error(_said(failed))
    return (changed or 0) + 1, "Transaction deleted."


def _said(failed: client.ApiFailed) -> str:
    return f"{failed.message} ({failed.code})" if failed.code else failed.message


def _error(text: str) -> html.Span:
    return html.Span(text, className="tw-error")


# The pick → the page's stream (`portfolios=<id>`) and the URL's `portfolio=`.
dash.clientside_callback(
    dash.ClientsideFunction("portfolio", "follow"),
    Output({"type": "live-filter", "page": "portfolio"}, "data"),
    Output("url", "search", allow_duplicate=True),
    Input("portfolio-pick", "value"),
    State({"type": "live-filter", "page": "portfolio"}, "data"),
    State("url", "search"),
    prevent_initial_call=True,
)

# `portfolio` events of the pick → the totals at once, and a reload of the rows.
dash.clientside_callback(
    dash.ClientsideFunction("portfolio", "live"),
    Output("portfolio-totals", "data", allow_duplicate=True),
    Output("portfolio-live", "data"),
    Input("live-events", "data"),
    State("portfolio-pick", "value"),
    State("portfolio-totals", "data"),
    State("portfolio-live", "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    dash.ClientsideFunction("portfolio", "valueLive"),
    Output("portfolio-value", "extendData"),
    Input("live-events", "data"),
    State("portfolio-pick", "value"),
    State("timerange", "data"),
    State("portfolio-points", "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    dash.ClientsideFunction("portfolio", "totals"),
    [Output(f"portfolio-total-{key}", "children") for key, _ in view.TOTALS]
    + [Output(f"portfolio-total-{key}", "className") for key, _ in view.TOTALS],
    Input("portfolio-totals", "data"),
)

# The value chart's plot width (points ≈ pixels), measured when the range or pick changes.
dash.clientside_callback(
    dash.ClientsideFunction("portfolio", "points"),
    Output("portfolio-points", "data"),
    Input("timerange", "data"),
    Input("portfolio-pick", "value"),
)
