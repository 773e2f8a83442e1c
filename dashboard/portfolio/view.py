"""The portfolio page's components: the totals, the holdings table, the allocation pie, the
value chart, the transaction form and list. Numbers come from the API as they are
(`/holdings`, `/value`, and `portfolio` events for the totals); nothing is recomputed here."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from dashboard import frame, theme

TOTALS = (
    ("market_value", "Market value"),
    ("unrealized_pnl", "Unrealized P&L"),
    ("day_change", "Day change"),
    ("realized_pnl", "Realized P&L"),
    ("cost_basis", "Cost basis"),
)
"""The totals shown above the table (`holdings` totals; the first three also come live)."""
SIGNED = ("unrealized_pnl", "day_change", "realized_pnl")
"""Totals coloured up/down by their sign."""
CONFIG: Any = {"displaylogo": False, "scrollZoom": False}


def money(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def _signed(value: float | None, text: str | None = None) -> html.Td:
    tone = "" if not value else ("tw-up" if value > 0 else "tw-down")
    return html.Td(text or money(value), className=tone)


def totals_row() -> html.Div:
    return html.Div(
        className="portfolio-totals",
        children=[
            html.Div(
                className="portfolio-total",
                children=[
                    html.Span(label, className="portfolio-total-label"),
                    html.Span("–", id=f"portfolio-total-{key}", className="portfolio-total-value"),
                ],
            )
            for key, label in TOTALS
        ],
    )


def holdings_table(items: list[dict[str, Any]]) -> Any:
    if not items:
        return html.Div("No holdings yet: add a transaction below.", className="tw-empty")
    head = ["Ticker", "Quantity", "Avg cost", "Price", "Market value", "Unrealized P&L"]
    head += ["Day change", "Realized P&L"]
    rows = []
    for item in items:
        pct = item["unrealized_pnl_pct"]
        pnl = money(item["unrealized_pnl"]) + ("" if pct is None else f" ({pct:+.2f} %)")
        rows.append(
            html.Tr(
                **{"data-ticker": item["ticker"]},
                children=[
                    html.Td(item["ticker"]),
                    html.Td(f"{item['quantity']:,.6g}"),
                    html.Td(money(item["avg_cost"])),
                    html.Td(money(item["price"])),
                    html.Td(money(item["market_value"])),
                    _signed(item["unrealized_pnl"], pnl),
                    _signed(item["day_change"]),
                    _signed(item["realized_pnl"]),
                ],
            )
        )
    return html.Table(
        className="tw-table portfolio-holdings",
        children=[html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)],
    )


def allocation(items: list[dict[str, Any]]) -> go.Figure:
    """Market value by ticker, open positions only."""
    held = [i for i in items if i["quantity"] > 0 and (i["market_value"] or 0) > 0]
    fig = theme.figure(margin={"l": 8, "r": 8, "t": 8, "b": 8}, showlegend=False)
    if held:
        fig.add_trace(
            go.Pie(
                labels=[i["ticker"] for i in held],
                values=[i["market_value"] for i in held],
                hole=0.45,
                sort=False,
                textinfo="label+percent",
            )
        )
    return fig


def value_figure(body: dict[str, Any], tz: tzinfo, revision: str) -> go.Figure:
    """The portfolio's value over the range, in the page's zone (plotly ignores zones)."""
    fig = theme.figure(uirevision=revision, showlegend=False)
    fig.add_trace(
        go.Scatter(
            x=[frame.wall(t, tz) for t in body["time"]],
            y=body["value"],
            mode="lines",
            fill="tozeroy",
            line={"shape": "hv"},
            name="value",
        )
    )
    return fig


def transaction_form(tickers: list[str]) -> html.Div:
    return html.Div(
        className="portfolio-form",
        children=[
            dcc.Dropdown(
                id="portfolio-tx-ticker",
                options=tickers,
                placeholder="Ticker",
                className="portfolio-tx-ticker",
            ),
            dcc.RadioItems(
                id="portfolio-tx-side",
                options=[{"label": " Buy", "value": "buy"}, {"label": " Sell", "value": "sell"}],
                value="buy",
                inline=True,
            ),
            dcc.Input(
                id="portfolio-tx-quantity",
                type="number",
                placeholder="Quantity",
                className="tw-input",
                min=0,
            ),
            dcc.Input(
                id="portfolio-tx-price",
                type="number",
                placeholder="Price",
                className="tw-input",
                min=0,
            ),
            dcc.Input(
                id="portfolio-tx-time",
                placeholder="Time: now, or YYYY-MM-DD HH:MM",
                className="tw-input portfolio-tx-time",
            ),
            dcc.Input(
                id="portfolio-tx-fee",
                type="number",
                placeholder="Fee (0)",
                className="tw-input",
                min=0,
            ),
            html.Button("Add transaction", id="portfolio-tx-add", className="tw-button primary"),
            html.Span(id="portfolio-tx-message"),
        ],
    )


def transactions_table(items: list[dict[str, Any]], tz: tzinfo) -> Any:
    if not items:
        return html.Div("No transactions.", className="tw-empty")
    head = ["Time", "Ticker", "Side", "Quantity", "Price", "Fee", ""]
    rows = [
        html.Tr(
            [
                html.Td(frame.when(tx["time"], tz)),
                html.Td(tx["ticker"]),
                html.Td(tx["side"], className="tw-up" if tx["side"] == "buy" else "tw-down"),
                html.Td(f"{tx['quantity']:,.6g}"),
                html.Td(money(tx["price"])),
                html.Td(money(tx["fee"])),
                html.Td(
                    html.Button(
                        "Delete",
                        id={"type": "portfolio-tx-delete", "tx": tx["id"]},
                        className="tw-button tw-quiet",
                    )
                ),
            ]
        )
        for tx in reversed(items)
    ]
    return html.Table(
        className="tw-table portfolio-transactions",
        children=[html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)],
    )
