"""Keeping three tables bounded: the stream journal to its replay window
(`tickwire.journal.prune`), the alert feed to what the engine has not consumed
(`ingest.feed.prune`), and `dead_letters` to its age and row limits."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from ingest import feed
from ingest.settings import IngestSettings
from tickwire import journal

log = logging.getLogger("ingest.pruner")


async def prune(settings: IngestSettings, stop: asyncio.Event) -> None:
    """Every `stream_prune_interval_s` until `stop`: drop stream events beyond the replay
    window and dead letters beyond their retention."""
    conn: asyncpg.Connection | None = None
    try:
        while not stop.is_set():
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(settings.resolved_database_url())
                dropped = await journal.prune(
                    conn, settings.stream_keep_events, settings.stream_keep_s
                )
                if dropped:
                    log.debug("pruned %d stream events", dropped)
                dropped = await feed.prune(conn, settings.alerts_feed_keep_s)
                if dropped:
                    log.debug("pruned %d alert feed entries", dropped)
                dropped = await prune_dead_letters(
                    conn, settings.dead_letter_keep_days, settings.dead_letter_keep_rows
                )
                if dropped:
                    log.info("pruned %d dead letters", dropped)
            except (
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                asyncpg.exceptions.InternalClientError,
            ) as exc:
                log.warning("pruning failed (%s); retrying", exc)
                if conn is not None:
                    conn.terminate()  # reconnect next time, whatever state it was left in
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.stream_prune_interval_s)
    finally:
        if conn is not None:
            await conn.close()


async def prune_dead_letters(conn: asyncpg.Connection, keep_days: float, keep_rows: int) -> int:
    """Drop dead letters received more than `keep_days` ago, and all but the newest
    `keep_rows` (by id). Returns how many were dropped."""
    # Two statements, each an index range (an OR of both would scan the table).
    by_age: str = await conn.execute(
        "DELETE FROM dead_letters WHERE received_at < now() - make_interval(secs => $1)",
        keep_days * 86_400,
    )
    by_count: str = await conn.execute(
        "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - $1",
        keep_rows,
    )
    return int(by_age.split()[-1]) + int(by_count.split()[-1])
