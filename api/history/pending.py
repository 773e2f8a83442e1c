"""Rollup windows that still wait for committed rows (`rollup_pending`: TimescaleDB, a refresh
after late rows, ingest/refresher.py; plain PostgreSQL, the merge of the partials batches
appended, ingest/merger.py): answers read raw rows there."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from api.history.resolution import LEVELS, Stale, stale_levels


async def stale(conn: asyncpg.Connection, kind: str, start: datetime, end: datetime) -> Stale:
    """Where the `kind` (prices, telemetry) rollups may miss committed rows in [start, end).

    Read before the answer's statement: a window recorded by a batch committed later is for
    rows that statement may not see either; one deleted in between was refreshed first."""
    rows = await conn.fetch(
        # DISTINCT: on plain PostgreSQL most batches between two merges record the same window.
        """SELECT DISTINCT relation, window_start, window_end FROM rollup_pending
           WHERE relation = ANY($1::text[]) AND window_start < $3 AND window_end > $2""",
        [f"{kind}_{name}" for name, _ in LEVELS],
        start,
        end,
    )
    if not rows:
        return {}
    return stale_levels([(relation.rsplit("_", 1)[1], low, high) for relation, low, high in rows])
