"""A portfolio's holdings now and its value over time: its transactions replayed
(`ledger`), priced from quotes (now) or candles' closes (history)."""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import Any, Final

import asyncpg

from api.history import candles
from api.history.resolution import Ask
from api.market import ledger
from api.market.quotes import quotes
from tickwire import timegrid

TRANSACTIONS: Final = """SELECT id, ticker, side, quantity, price, fee, time, created_at
    FROM portfolio_transactions WHERE portfolio_id = $1 ORDER BY time, id"""
_TOTALS: Final = ("market_value", "cost_basis", "unrealized_pnl", "realized_pnl", "day_change")


async def transactions(conn: asyncpg.Connection, portfolio_id: int) -> list[dict[str, Any]]:
    return [dict(row) for row in await conn.fetch(TRANSACTIONS, portfolio_id)]


async def holdings(conn: asyncpg.Connection, portfolio_id: int) -> dict[str, Any]:
    """`{"items": [...], "totals": {...}}`: one item per ticker ever traded (a closed position
    has quantity 0 and keeps its realized P&L), priced at the latest tick."""
    positions = ledger.replay(await transactions(conn, portfolio_id))
    quoted = {q["ticker"]: q for q in await quotes(conn, sorted(positions))}
    items = [_item(ticker, positions[ticker], quoted[ticker]) for ticker in sorted(positions)]
    totals = {key: sum(item[key] or 0.0 for item in items) for key in _TOTALS}
    return {"items": items, "totals": totals}


def _item(ticker: str, position: ledger.Position, quote: dict[str, Any]) -> dict[str, Any]:
    price, prev = quote["price"], quote["prev_close"]
    quantity, cost = position.quantity, position.cost
    value = quantity * price if price is not None else None
    unrealized = value - cost if value is not None else None
    return {
        "ticker": ticker,
        "quantity": quantity,
        "avg_cost": position.avg_cost,
        "cost_basis": cost,
        "price": price,
        "market_value": value,
        "unrealized_pnl": unrealized,
        "unrealized_pnl_pct": 100 * unrealized / cost if unrealized is not None and cost else None,
        "realized_pnl": position.realized,
        "day_change": quantity * (price - prev) if price is not None and prev is not None else None,
    }


_BEFORE: Final = """SELECT price FROM prices WHERE ticker = $1 AND time < $2
    ORDER BY time DESC, source DESC LIMIT 1"""


async def value(conn: asyncpg.Connection, portfolio_id: int, ask: Ask) -> dict[str, Any]:
    """`{"time": [...], "value": [...]}`: one point per bucket of `ask.width` over the range
    (`time` the bucket's start), the value at the bucket's end: the quantities held then
    × each ticker's last close by then (carried over buckets without ticks)."""
    txs = await transactions(conn, portfolio_id)
    width = ask.width
    first = timegrid.floor(ask.start, width)
    starts = [first + i * width for i in range(-(-(ask.end - first) // width))]
    ends = [min(start + width, ask.end) for start in starts]
    total = [0.0] * len(ends)
    for ticker in sorted({tx["ticker"] for tx in txs}):
        mine = [tx for tx in txs if tx["ticker"] == ticker]
        prices = await _closes(conn, ticker, Ask(first, ask.end, width, None, ask.raw_only))
        start_price = await conn.fetchval(_BEFORE, ticker, first)
        times = [tx["time"] for tx in mine]
        for i, end in enumerate(ends):
            held = ledger.replay(mine[: bisect.bisect_left(times, end)]).get(ticker)
            price = _price_at(prices, starts[i], start_price)
            if held is not None and price is not None:
                total[i] += held.quantity * price
    return {"time": starts, "value": total}


async def _closes(
    conn: asyncpg.Connection, ticker: str, ask: Ask
) -> tuple[list[datetime], list[float]]:
    _, rows = await candles.candles(conn, ticker, ask)
    return [row["time"] for row in rows], [row["close"] for row in rows]


def _price_at(
    closes: tuple[list[datetime], list[float]], bucket: datetime, before: float | None
) -> float | None:
    """The close of the latest candle starting at or before `bucket`, else `before`."""
    times, prices = closes
    i = bisect.bisect_right(times, bucket)
    return prices[i - 1] if i else before
