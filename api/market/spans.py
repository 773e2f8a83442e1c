"""Aggregates of one ticker over a time range, exact, from rollups + raw edges: a LATERAL
subquery per ticker (the rollups' key `(ticker, bucket)` and the raw ticks' `(ticker, time,
source)` serve it by index), so a statement over many tickers never scans a day of ticks each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import asyncpg

from api.history.pending import stale
from api.history.pieces import PRICES, Params, union
from api.history.resolution import FINEST, cover, levels_for

#: First open and last close of the pieces (distinct times): see `pieces.LATEST`.
FIRST: Final = "(min(ARRAY[date_part('epoch', t), open]))[2]"
LAST: Final = "(max(ARRAY[date_part('epoch', t), close]))[2]"

#: The latest tick of ticker `{t}` (at or before `{at}`): ties at one instant by source, as the
#: rollups' close.
TICK: Final = """SELECT price, time FROM prices WHERE ticker = {t} AND time <= {at}
    ORDER BY time DESC, source DESC LIMIT 1"""
#: The last tick strictly before `{at}`.
TICK_BEFORE: Final = """SELECT price, time FROM prices WHERE ticker = {t} AND time < {at}
    ORDER BY time DESC, source DESC LIMIT 1"""


async def span(
    conn: asyncpg.Connection, params: Params, ticker: str, start: datetime, end: datetime
) -> str:
    """SQL of one row `(open, high, low, close, volume, count)` over [start, end) of the ticker
    named by the SQL expression `ticker` (all null when it has no ticks there)."""
    levels = levels_for(None)
    segments = cover(start, end, levels, await stale(conn, "prices", start, end))
    if not segments:
        return (
            "SELECT NULL::float8 AS open, NULL::float8 AS high, NULL::float8 AS low, "
            "NULL::float8 AS close, NULL::float8 AS volume, 0::bigint AS count"
        )
    pieces = union(PRICES, segments, params, f"ticker = {ticker}", FINEST)
    return f"""SELECT {FIRST} AS open, max(high) AS high, min(low) AS low, {LAST} AS close,
        sum(volume) AS volume, coalesce(sum(count), 0)::bigint AS count FROM ({pieces}) p"""
