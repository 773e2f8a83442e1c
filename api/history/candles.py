"""OHLCV candles in plain SQL (asyncpg), from the price rollups and raw ticks.

Same tiling as telemetry (`resolution.cover`): whole rollup buckets where they fit, raw ticks
aggregated per minute (or straight into the candle width, when no rollup nests in it) at the
edges. A candle's open is the open of its earliest piece and its close the close of its
latest; pieces never overlap in time, so that is its first and last tick by time, exactly.
Ticks at the very same instant from several sources are ordered by `source`, here as in the
rollups of both backends, so rollup and raw answers agree.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg

from api.history.pending import stale
from api.history.resolution import Ask, Segment, cover, grain, levels_for, source_of
from api.history.series import Params
from tickwire.timegrid import ORIGIN_SQL

#: Open of the earliest piece and close of the latest (pieces have distinct times): see
#: `series.LATEST`.
_FIRST = "(min(ARRAY[date_part('epoch', t), open]))[2]"
_LAST = "(max(ARRAY[date_part('epoch', t), close]))[2]"


def _pieces(segments: list[Segment], params: Params, ticker: str, raw_grain: timedelta) -> str:
    """UNION ALL of the segments as pieces (t, open, high, low, close, volume, count)."""
    parts = []
    subject = params.add(ticker)
    step = ""
    for segment in segments:
        lo, hi = params.add(segment.start), params.add(segment.end)
        if segment.level is not None:
            parts.append(
                f"SELECT bucket AS t, open, high, low, close, volume, count "
                f"FROM prices_{segment.level} "
                f"WHERE ticker = {subject} AND bucket >= {lo} AND bucket < {hi}"
            )
            continue
        step = step or params.add(raw_grain)
        parts.append(
            f"SELECT date_bin({step}, time, {ORIGIN_SQL}) AS t, "
            f"(array_agg(price ORDER BY time, source))[1] AS open, "
            f"max(price) AS high, min(price) AS low, "
            f"(array_agg(price ORDER BY time DESC, source DESC))[1] AS close, "
            f"sum(volume) AS volume, count(*) AS count "
            f"FROM prices WHERE ticker = {subject} AND time >= {lo} AND time < {hi} GROUP BY 1"
        )
    return "\nUNION ALL\n".join(parts)


async def candles(conn: asyncpg.Connection, ticker: str, ask: Ask) -> tuple[str, list[Any]]:
    """(source, candles) of the ticker over the asked range, in buckets of `ask.width`;
    buckets without ticks are left out."""
    levels = levels_for(ask.width, ask.raw_only)
    segments = cover(ask.start, ask.end, levels, await stale(conn, "prices", ask.start, ask.end))
    params = Params()
    pieces = _pieces(segments, params, ticker, grain(levels, ask.width))
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
