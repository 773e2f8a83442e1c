"""Keeping the stream journal a bounded replay window (`tickwire.journal.prune`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from ingest.settings import IngestSettings
from tickwire import journal

log = logging.getLogger("ingest.pruner")


async def prune_journal(settings: IngestSettings, stop: asyncio.Event) -> None:
    """Every `stream_prune_interval_s` until `stop`: drop events beyond the replay window."""
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
            except (
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                asyncpg.exceptions.InternalClientError,
            ) as exc:
                log.warning("stream journal pruning failed (%s); retrying", exc)
                if conn is not None:
                    conn.terminate()  # reconnect next time, whatever state it was left in
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.stream_prune_interval_s)
    finally:
        if conn is not None:
            await conn.close()
