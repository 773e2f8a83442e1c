"""Which engine leads: the one whose connection holds a session-level PostgreSQL advisory
lock. The server drops the lock when that connection dies (a killed process, a lost network),
so a standby polling for it takes over; the leader does every write on that connection, so a
leader that lost it can no longer write anything. `lead` holds the lead and starts over on a
failure; what a leader does is the caller's (`engine.py`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import asyncpg

from tickwire.aio import wait_any

log = logging.getLogger("ingest.alerts")

LOCK_KEY: Final = 0x7469636B77697265 & 0x7FFFFFFFFFFFFFFF
"""The advisory lock's key ('tickwire' in ASCII): one engine per database."""
POLL_S: Final = 1.0
"""How often a standby asks for the lock."""
RETRY_S: Final = 1.0
"""How long after a failure a leader (or standby) starts over."""


async def lead(
    url: str,
    name: str,
    done: asyncio.Event,
    body: Callable[[asyncpg.Connection], Awaitable[None]],
) -> None:
    """Lead (or wait to) until `done` is set, running `body` on the connection that holds the
    lock. A failure (the database went away) starts over: connect, elect, `body` again."""
    while True:
        try:
            await _hold(url, name, done, body)
            return
        except Exception:
            if done.is_set():
                log.exception("alert engine failed while stopping")
                return
            log.exception("alert engine failed; starting over from the database")
            await wait_any([done], RETRY_S)


async def _hold(
    url: str,
    name: str,
    done: asyncio.Event,
    body: Callable[[asyncpg.Connection], Awaitable[None]],
) -> None:
    conn = await asyncpg.connect(url)
    try:
        if await elect(conn, name, done):
            await body(conn)
    finally:
        conn.terminate() if conn.is_in_transaction() else await conn.close()


async def elect(conn: asyncpg.Connection, name: str, done: asyncio.Event) -> bool:
    """Wait until this connection holds the lock (True), or `done` (False)."""
    waiting = False
    while not done.is_set():
        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
            await conn.execute("UPDATE alert_engine SET leader = $1, leading_since = now()", name)
            log.info("alert engine %s leads", name)
            return True
        if not waiting:
            log.info("alert engine %s on standby", name)
            waiting = True
        await wait_any([done], POLL_S)
    return False
