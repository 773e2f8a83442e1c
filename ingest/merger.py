"""Plain PostgreSQL: the ingester's rollup merger. Batches append 1-minute partials and their
window (`ingest.rollup`, `Upkeep.DEFER`); this task folds all of them into the 1m/1h/1d
rollups, one statement per kind on its own connection, as soon as ingest is quiet and at least
every `every_s` under load (`due`). A batch's partials and its
window are committed with its raw rows, and folded and deleted with the rollups' update, so a
crash (of the ingester or of the server) at any point leaves every row counted exactly once:
either still appended (and readers read raw rows over its window) or merged.

Several ingesters (`TICKWIRE_INGEST_SHARE`) each run one; an advisory lock lets one merge at a
time, so their upserts never deadlock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

import asyncpg

from ingest import rollup
from ingest.refresher import CONNECTION_ERRORS
from ingest.stats import Stats
from tickwire.aio import wait_any

log = logging.getLogger("ingest.merger")

#: pg_advisory_xact_lock key of the merge (any fixed number; "tw20").
LOCK: Final = 0x74773230
#: How often the merger looks whether ingest went quiet.
QUIET_S: Final = 0.5
_STATEMENTS: Final = {table: rollup.merge_statement(table) for table in ("prices", "telemetry")}


async def merge(conn: asyncpg.Connection) -> int:
    """Fold every appended partial into the rollups; the partials folded."""
    folded = 0
    for table, statement in _STATEMENTS.items():
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
            folded += await conn.fetchval(statement)  # a snapshot taken after the lock
        log.debug("merged %d %s rollup partials", folded, table)
    return folded


def due(batches: int, merged_at: int, last_tick: int, since_merge_s: float, every_s: float) -> bool:
    """Whether to merge now, given the batches committed so far, at the last merge and at the
    last tick: when batches were committed since the last merge and either none came since the
    last tick (ingest is quiet: the rollups catch up at once) or `every_s` has passed. Under
    steady load each rollup row is then upserted once per `every_s` however many messages its
    device sent meanwhile; `every_s` passing with nothing committed also merges (partials
    another ingester left)."""
    if since_merge_s >= every_s:
        return True
    return batches != merged_at and batches == last_tick


class Merger:
    """The merger task: a look every `QUIET_S` at this ingester's batch count (no query),
    a merge when `due`, and one more when ingest stops; its own connection, re-opened after a
    failure."""

    def __init__(self, database_url: str, every_s: float, stats: Stats) -> None:
        self.database_url = database_url
        self.every_s = every_s
        self.stats = stats

    async def run(self, stop: asyncio.Event) -> None:
        conn: asyncpg.Connection | None = None
        merged_at, last_tick, merged_t = -1, -1, time.monotonic()
        try:
            while True:
                stopping = stop.is_set()  # the writer is done: this merge is the last
                batches = self.stats.batches
                since = time.monotonic() - merged_t
                if stopping or due(batches, merged_at, last_tick, since, self.every_s):
                    merged_t = time.monotonic()
                    if await self._merge(conn := await self._connected(conn)):
                        merged_at = batches
                    elif stopping:
                        return  # the next ingester merges what is left
                if stopping:
                    return
                last_tick = batches
                await wait_any([stop], QUIET_S)
        finally:
            if conn is not None and not conn.is_closed():
                await conn.close()

    async def _connected(self, conn: asyncpg.Connection | None) -> asyncpg.Connection | None:
        if conn is not None and not conn.is_closed():
            return conn
        try:
            return await asyncpg.connect(self.database_url)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            log.warning("rollup merger cannot connect (%s); retrying", exc)
            return None

    async def _merge(self, conn: asyncpg.Connection | None) -> bool:
        """Whether the merge went through."""
        if conn is None:
            return False
        try:
            await merge(conn)
            return True
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            log.warning("rollup merge failed (%s); retrying on a new connection", exc)
        except Exception:  # the top of a task: ingest must go on whatever happens here
            log.exception("rollup merge failed; retrying")
        conn.terminate()
        return False
