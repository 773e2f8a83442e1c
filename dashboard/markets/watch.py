"""The markets page's watchlist: the ticker tape and the editor (tickers, alert levels)."""

from __future__ import annotations

from typing import Any

from dash import dcc, html


def tape(entries: list[dict[str, Any]]) -> list[Any]:
    """One tile per watched ticker; a click selects it (markets.js puts it in the URL without
    re-rendering the page); the quote (price, change and change % against the previous
    close), the sparkline and the selection are drawn by markets.js."""
    return [
        html.Div(
            className="markets-tick",
            children=html.Div(
                className="markets-tick-link",
                id={"type": "markets-tick", "ticker": e["ticker"]},
                role="link",
                tabIndex="0",
                title=f"Chart {e['ticker']}",
                n_clicks=0,
                children=[
                    html.Span(e["ticker"], className="markets-tick-name"),
                    html.Span("…", className="markets-tick-price"),
                    html.Span(
                        className="markets-tick-change",
                        children=[
                            html.Span(className="markets-quote-change"),
                            html.Span(className="markets-quote-pct"),
                        ],
                    ),
                    html.Span(className="markets-tick-spark"),
                ],
            ),
            **{"data-ticker": e["ticker"]},
        )
        for e in entries
    ]


def empty(available: list[dict[str, Any]]) -> html.Div:
    """The empty watchlist: say so and offer the stocks to add."""
    return html.Div(
        className="tw-empty",
        children=[
            html.P("Your watchlist is empty — add a stock to follow it live:"),
            html.Div(
                className="markets-offer",
                children=[
                    html.Button(
                        s["ticker"],
                        title=s.get("name") or s["ticker"],
                        id={"type": "markets-offer", "ticker": s["ticker"]},
                        className="tw-button",
                    )
                    for s in available[:24]
                ],
            )
            if available
            else html.P("No stocks yet — start the simulator with `python -m simulator`."),
        ],
    )


def _level(ticker: str, which: str, value: float | None) -> dcc.Input:
    return dcc.Input(
        id={"type": f"markets-{which}", "ticker": ticker},
        type="number",
        value=value,
        placeholder="none",
        className="tw-input markets-level",
        debounce=True,
    )


QUOTE_COLUMNS = (("Price", "price"), ("Change", "change"), ("Change %", "pct"))
"""The editor's quote cells (drawn live by markets.js, like the tape): header, class suffix."""


def editor(entries: list[dict[str, Any]]) -> html.Table:
    """The watched tickers with their quote and alert levels: edit and save, or remove."""
    quote_heads = [html.Th(name, className="tw-num") for name, _ in QUOTE_COLUMNS]
    head = html.Tr(
        [
            html.Th("Ticker"),
            *quote_heads,
            html.Th("Alert above"),
            html.Th("Alert below"),
            html.Th(""),
        ]
    )
    rows = [
        html.Tr(
            **{"data-ticker": e["ticker"]},
            children=[
                html.Td(e["ticker"]),
                *(html.Td(className=f"markets-quote-{k}") for _, k in QUOTE_COLUMNS),
                html.Td(_level(e["ticker"], "above", e.get("alert_above"))),
                html.Td(_level(e["ticker"], "below", e.get("alert_below"))),
                html.Td(
                    [
                        html.Button(
                            "Save",
                            id={"type": "markets-save", "ticker": e["ticker"]},
                            className="tw-button",
                        ),
                        html.Button(
                            "Remove",
                            id={"type": "markets-remove", "ticker": e["ticker"]},
                            className="tw-button tw-quiet",
                        ),
                    ]
                ),
            ],
        )
        for e in entries
    ]
    return html.Table(className="tw-table markets-watch", children=[head, *rows])


def choices(available: list[dict[str, Any]], watched: set[str]) -> list[dict[str, str]]:
    return [
        {"label": f"{s['ticker']} — {s.get('name') or ''}", "value": s["ticker"]}
        for s in available
        if s["ticker"] not in watched
    ]
