"""OHLCV candles in plain SQL (asyncpg), from the price rollups and raw ticks.

Same tiling as telemetry (`resolution.cover`): whole rollup buckets where they fit, raw ticks
aggregated per minute (or straight into the candle width, when no rollup nests in it) at the
edges. A candle's open is the open of its earliest piece and its close the close of its
latest; pieces never overlap in time, so that is its first and last tick by time, exactly.
Ticks at the very same instant from several sources are ordered by `source`, here as in the
rollups of both backends, so rollup and raw answers agree.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from api.history.pending import stale
from api.history.pieces import PRICES, Params, union
from api.history.resolution import Ask, cover, grain, levels_for, source_of
from tickwire.timegrid import ORIGIN_SQL

#: Open of the earliest piece and close of the latest (pieces have distinct times): see
#: `pieces.LATEST`.
_FIRST = "(min(ARRAY[date_part('epoch', t), open]))[2]"
_LAST = "(max(ARRAY[date_part('epoch', t), close]))[2]"


async def candles(conn: asyncpg.Connection, ticker: str, ask: Ask) -> tuple[str, list[Any]]:
    """(source, candles) of the ticker over the asked range, in buckets of `ask.width`;
    buckets without ticks are left out."""
    levels = levels_for(ask.width, ask.raw_only)
    segments = cover(ask.start, ask.end, levels, await stale(conn, "prices", ask.start, ask.end))
    params = Params()
    where = f"ticker = {params.add(ticker)}"
    pieces = union(PRICES, segments, params, where, grain(levels, ask.width))
    width = params.add(ask.width)
    rows = await conn.fetch(
        f"""WITH pieces AS ({pieces})
            SELECT date_bin({width}, t, {ORIGIN_SQL}) AS time,
                   {_FIRST} AS open, max(high) AS high, min(low) AS low, {_LAST} AS close,
                   sum(volume) AS volume, sum(count)::bigint AS count
            FROM pieces GROUP BY 1 ORDER BY 1""",
        *params.values,
    )
    return source_of("prices", segments), [dict(row) for row in rows]
