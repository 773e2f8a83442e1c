"""The ingester's heartbeat: every second, in its `ingest_status` row, whether it hears the
broker, writes to the database and has no backlog (`attentive`); `stopped` when it ends. The
alert engine reads them (`ingest/alerts/hearing.py`), wherever it runs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Final

import asyncpg

from tickwire.aio import wait_any

log = logging.getLogger("ingest.heartbeat")

INTERVAL_S: Final = 1.0
_LOOK_S: Final = 0.1
"""A change of `attentive` is written within this much."""
_BEAT: Final = """
INSERT INTO ingest_status AS s (instance, started_at, heartbeat_at, attentive, stopped)
VALUES ($1, $2, now(), $3, $4)
ON CONFLICT (instance) DO UPDATE SET heartbeat_at = now(), attentive = excluded.attentive,
    stopped = excluded.stopped"""


async def beat(
    url: str,
    instance: str,
    started_at: datetime,
    attentive: Callable[[], bool],
    stop: asyncio.Event,
) -> None:
    """Write the heartbeat every `INTERVAL_S` and when `attentive` changes, until `stop`;
    then once more as stopped."""
    conn: asyncpg.Connection | None = None
    written: tuple[float, bool] | None = None
    try:
        while True:
            stopping, now = stop.is_set(), time.monotonic()
            state = attentive()
            if stopping or written is None or written[1] != state or now - written[0] >= INTERVAL_S:
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(url)
                    await conn.execute(_BEAT, instance, started_at, state, stopping)
                    written = (now, state)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("heartbeat failed (%s); retrying", exc)
                    if conn is not None:
                        conn.terminate()
                        conn = None
            if stopping:
                return
            await wait_any([stop], _LOOK_S)
    finally:
        if conn is not None:
            await conn.close()
