"""Plain PostgreSQL: the ingester's rollup merger. Batches append 1-minute partials and their
window (`ingest.rollup`, `Upkeep.DEFER`); every `interval_s` this task folds all of them into
the 1m/1h/1d rollups, one statement per kind on its own connection. A batch's partials and its
window are committed with its raw rows, and folded and deleted with the rollups' update, so a
crash (of the ingester or of the server) at any point leaves every row counted exactly once:
either still appended (and readers read raw rows over its window) or merged.

Several ingesters (`TICKWIRE_INGEST_SHARE`) each run one; an advisory lock lets one merge at a
time, so their upserts never deadlock.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import asyncpg

from ingest import rollup
from tickwire.aio import wait_any

log = logging.getLogger("ingest.merger")

#: pg_advisory_xact_lock key of the merge (any fixed number; "tw20").
_LOCK: Final = 0x74773230
_CONNECTION_ERRORS: Final = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,
)
_STATEMENTS: Final = {table: rollup.merge_statement(table) for table in ("prices", "telemetry")}


async def merge(conn: asyncpg.Connection) -> int:
    """Fold every appended partial into the rollups; the partials folded."""
    folded = 0
    for table, statement in _STATEMENTS.items():
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
            folded += await conn.fetchval(statement)  # a snapshot taken after the lock
        log.debug("merged %d %s rollup partials", folded, table)
    return folded


class Merger:
    """The merger task: a merge every `interval_s` and once more when ingest stops; its own
    connection, re-opened after a failure."""

    def __init__(self, database_url: str, interval_s: float) -> None:
        self.database_url = database_url
        self.interval_s = interval_s

    async def run(self, stop: asyncio.Event) -> None:
        conn: asyncpg.Connection | None = None
        try:
            while True:
                stopping = stop.is_set()  # the writer is done: this merge is the last
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(self.database_url)
                    await merge(conn)
                except (*_CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                    log.warning("rollup merge failed (%s); retrying on a new connection", exc)
                    if conn is not None:
                        conn.terminate()
                    if stopping:
                        return  # the next ingester merges what is left
                except Exception:  # the top of a task: ingest must go on whatever happens here
                    log.exception("rollup merge failed; retrying")
                    if conn is not None:
                        conn.terminate()
                if stopping:
                    return
                await wait_any([stop], self.interval_s)
        finally:
            if conn is not None and not conn.is_closed():
                await conn.close()
