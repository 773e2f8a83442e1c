"""Quotes: each ticker's latest tick, its current UTC day so far and the previous close, for a
whole list of tickers in one statement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from api.history.pieces import Params
from api.market.spans import TICK, TICK_BEFORE, span

DAY = timedelta(days=1)


def day_start(now: datetime) -> datetime:
    """00:00 UTC of the day holding `now`."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def quotes(
    conn: asyncpg.Connection, tickers: list[str], now: datetime | None = None
) -> list[dict[str, Any]]:
    """A quote per ticker, in the order given: `price`/`time` the latest tick, `open/high/
    low/volume` of the UTC day holding `now` (default: the current time), `prev_close` the last
    tick before that day, `change` and `change_pct` against it (null where undefined)."""
    if not tickers:
        return []
    today = day_start(now or datetime.now(UTC))
    params = Params()
    names = params.add(tickers)
    day_from, day_to = params.add(today), params.add(today + DAY)
    day = await span(conn, params, "q.ticker", today, today + DAY)
    rows = await conn.fetch(
        f"""SELECT q.ticker, last.price, last.time, d.open, d.high, d.low, d.volume,
                   prev.price AS prev_close
            FROM unnest({names}::text[]) WITH ORDINALITY AS q(ticker, n)
            LEFT JOIN LATERAL ({TICK.format(t="q.ticker", at=day_to)}) last ON true
            LEFT JOIN LATERAL ({day}) d ON true
            LEFT JOIN LATERAL ({TICK_BEFORE.format(t="q.ticker", at=day_from)}) prev ON true
            ORDER BY q.n""",
        *params.values,
    )
    return [_quote(dict(row)) for row in rows]


def _quote(row: dict[str, Any]) -> dict[str, Any]:
    price, prev = row["price"], row["prev_close"]
    change = price - prev if price is not None and prev is not None else None
    row["change"] = change
    row["change_pct"] = 100 * change / prev if change is not None and prev else None
    return row
