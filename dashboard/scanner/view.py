"""The scanner page's components: the overview line and one table per list, each ticker a link
that opens it on the markets page."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from dash import dcc, html

from dashboard import frame

LISTS = (
    ("gainers", "Gainers"),
    ("losers", "Losers"),
    ("most_active", "Most active"),
    ("unusual_volume", "Unusual volume"),
    ("breakouts", "Breakouts"),
)
WINDOW_NAMES = {"5m": "5 minutes", "1h": "1 hour", "24h": "24 hours", "7d": "7 days"}
_EMPTY = {
    "gainers": "No ticker rose over the last {}.",
    "losers": "No ticker fell over the last {}.",
    "most_active": "No ticker traded volume over the last {}.",
    "unusual_volume": "No ticker traded twice its usual volume over the last {}.",
    "breakouts": "No ticker broke out of its range of the 20 windows before the last {}.",
}


def _number(value: Any, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _pct(value: Any) -> html.Span:
    if value is None:
        return html.Span("—")
    tone = "tw-up" if value >= 0 else "tw-down"
    return html.Span(f"{value:+.2f}%", className=tone)


def market_link(ticker: str, search: str | None) -> str:
    """The markets page charting `ticker`, keeping the frame's parameters of `search`."""
    keep = [(k, v) for k, v in parse_qsl((search or "").lstrip("?")) if k in frame.FRAME_PARAMS]
    return "/markets?" + urlencode([("ticker", ticker), *keep])


def _extra(name: str, item: dict[str, Any]) -> str:
    if name == "unusual_volume":
        return f"{_number(item.get('volume_ratio'), 1)}×"
    if name == "breakouts":
        return {"up": "↑ up", "down": "↓ down"}.get(str(item.get("direction")), "")
    return ""


def table(name: str, title: str, items: list[dict[str, Any]], window: str, search: str) -> Any:
    """One list: ticker (a link to markets), price, change %, volume (and the ratio or the
    direction); an empty list says so."""
    extra = {"unusual_volume": "× usual", "breakouts": "Direction"}.get(name)
    body: Any
    if not items:
        body = html.P(_EMPTY[name].format(WINDOW_NAMES[window]), className="tw-empty")
    else:
        heads = ["Ticker", "Price", "Change", "Volume", *([extra] if extra else [])]
        rows = [
            html.Tr(
                **{"data-ticker": item["ticker"]},
                children=[
                    html.Td(dcc.Link(item["ticker"], href=market_link(item["ticker"], search))),
                    html.Td(_number(item.get("price")), className="tw-num"),
                    html.Td(_pct(item.get("change_pct")), className="tw-num"),
                    html.Td(_number(item.get("volume"), 0), className="tw-num"),
                    *([html.Td(_extra(name, item), className="tw-num")] if extra else []),
                ],
            )
            for item in items
        ]
        body = html.Table(
            className="tw-table scanner-table",
            children=[html.Tr([html.Th(h) for h in heads]), *rows],
        )
    return html.Div(
        className="tw-panel scanner-list",
        id=f"scanner-{name.replace('_', '-')}",
        children=[html.H3(title), body],
    )


def overview(body: dict[str, Any], window: str) -> str:
    """The market in one line: scanned, advancing, declining, average change."""
    o = body["overview"]
    if not o.get("scanned"):
        return f"No ticker has traded over the last {WINDOW_NAMES[window]}."
    avg = o.get("avg_change_pct")
    average = "—" if avg is None else f"{avg:+.2f}%"
    return (
        f"{o['scanned']} tickers scanned over the last {WINDOW_NAMES[window]} · "
        f"{o['advancing']} advancing · {o['declining']} declining · average change {average}"
    )
