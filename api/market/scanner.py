"""The market scanner: every readable ticker's move, volume and range over a window, in one
statement over rollups + raw edges (`spans`), ranked into lists in SQL.

For a window W ending at `now`: `change_pct` compares the latest tick with the last tick at or
before now − W; `volume` sums [now − W, now); the previous 20 windows are [now − 21·W, now − W),
whose mean volume is their total / 20 and whose highest high / lowest low bound a breakout.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import asyncpg
import orjson

from api.history.pieces import Params
from api.market.spans import TICK, span
from tickwire import scanner_windows

WINDOWS: Final = scanner_windows.WINDOWS
PREVIOUS: Final = 20
"""Windows before the current one that unusual volume and breakouts compare with."""
UNUSUAL_RATIO: Final = 2.0

_LISTS: Final = {
    "gainers": ("change_pct > 0", "change_pct DESC"),
    "losers": ("change_pct < 0", "change_pct ASC"),
    "most_active": ("volume > 0", "volume DESC"),
    "unusual_volume": (f"volume_ratio >= {UNUSUAL_RATIO}", "volume_ratio DESC"),
    "breakouts": ("direction IS NOT NULL", "abs(change_pct) DESC NULLS LAST"),
}


async def scan(
    conn: asyncpg.Connection, window: timedelta, now: datetime, limit: int
) -> dict[str, Any]:
    """The scanner's lists (each at most `limit` items, ties by ticker) and overview."""
    params = Params()
    at, start = params.add(now), params.add(now - window)
    current = await span(conn, params, "s.ticker", now - window, now)
    before = await span(conn, params, "s.ticker", now - (PREVIOUS + 1) * window, now - window)
    lim = params.add(limit)
    lists = ",\n".join(
        f"""(SELECT coalesce(json_agg(x), '[]') FROM (SELECT ticker, price, change_pct, volume,
             volume_ratio, direction FROM moves WHERE {cond} ORDER BY {order}, ticker
             LIMIT {lim}) x)::text AS {name}"""
        for name, (cond, order) in _LISTS.items()
    )
    row = await conn.fetchrow(
        f"""WITH raw AS (
              SELECT s.ticker, last.price, base.price AS base, coalesce(cur.volume, 0) AS volume,
                     prev.volume / {PREVIOUS} AS mean_volume, prev.high AS prev_high,
                     prev.low AS prev_low
              FROM stocks s
              JOIN LATERAL ({TICK.format(t="s.ticker", at=at)}) last ON true
              LEFT JOIN LATERAL ({TICK.format(t="s.ticker", at=start)}) base ON true
              LEFT JOIN LATERAL ({current}) cur ON true
              LEFT JOIN LATERAL ({before}) prev ON true
            ), moves AS (
              SELECT ticker, price, volume,
                     100 * (price - base) / nullif(base, 0) AS change_pct,
                     volume / nullif(mean_volume, 0) AS volume_ratio,
                     CASE WHEN price > prev_high THEN 'up' WHEN price < prev_low THEN 'down'
                     END AS direction
              FROM raw
            )
            SELECT {lists},
              (SELECT json_build_object(
                 'scanned', count(*), 'advancing', count(*) FILTER (WHERE change_pct > 0),
                 'declining', count(*) FILTER (WHERE change_pct < 0),
                 'avg_change_pct', avg(change_pct)) FROM moves)::text AS overview""",
        *params.values,
    )
    assert row is not None
    return {name: orjson.loads(row[name]) for name in (*_LISTS, "overview")}
