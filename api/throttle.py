"""Throttles kept in PostgreSQL, so that every API replica counts the same events.

A throttle is a moving window log: the events of one key (`throttle_events`, sql/0006) within
the last `window`; a key that holds `limit` of them is refused until the oldest that counts
leaves the window (`Retry-After`). The check and the insert happen under a transaction-scoped
advisory lock on the key, so concurrent attempts never slip past the limit together.

- Failed logins per account (DESIGN.md "Strictness and sessions"): the 11th failure within 15
  minutes is answered 429 `too_many_attempts`, even with the right password, until the window
  passes. An attempt is counted before its password is checked (the check is slow; counting
  first is what keeps 20 concurrent guesses from all being tried) and forgotten if it succeeds.
- Registrations per client address.

`limits` (the usual library) keeps its windows in Redis, Memcached or MongoDB; for PostgreSQL it
would need a storage backend of its own that is longer than the two statements below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from api.error_codes import ErrorCode
from api.errors import ApiError

#: What the throttles read the time from: injected by tests, the wall clock otherwise.
Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


class TooManyAttempts(ApiError):
    status, code = 429, ErrorCode.TOO_MANY_ATTEMPTS

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, details={"retry_after_s": retry_after_s})
        self.headers["Retry-After"] = str(retry_after_s)


@dataclass(frozen=True, slots=True)
class Window:
    scope: str
    """`throttle_events.scope`: `login_failure` or `registration`."""
    limit: int
    """Events a key may have within `seconds`; the next one is refused."""
    seconds: float
    what: str
    """What is counted, for the message: "failed logins for this account"."""

    @property
    def span(self) -> timedelta:
        return timedelta(seconds=self.seconds)


@dataclass(frozen=True, slots=True)
class Taken:
    """An event counted (its row id, so that a successful login can forget it); `count` is how
    many the key holds in the window with it."""

    id: int
    count: int


async def take(pool: asyncpg.Pool, window: Window, key: str, now: datetime) -> Taken:
    """Count one event for `key` at `now`, or raise `TooManyAttempts` if it holds `limit`."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{window.scope}:{key}"
        )
        await _purge(conn, window, now)
        times: list[datetime] = [
            r["at"]
            for r in await conn.fetch(
                """SELECT at FROM throttle_events WHERE scope = $1 AND key = $2 AND at > $3
                   ORDER BY at DESC LIMIT $4""",
                window.scope,
                key,
                now - window.span,
                window.limit,
            )
        ]
        if len(times) >= window.limit:
            # Free again when the oldest of the newest `limit` leaves the window.
            wait = (times[-1] + window.span - now).total_seconds()
            raise TooManyAttempts(_refusal(window), max(1, math.ceil(wait)))
        event_id: int = await conn.fetchval(
            "INSERT INTO throttle_events (scope, key, at) VALUES ($1, $2, $3) RETURNING id",
            window.scope,
            key,
            now,
        )
        return Taken(event_id, len(times) + 1)


async def forget(pool: asyncpg.Pool, taken: Taken) -> None:
    await pool.execute("DELETE FROM throttle_events WHERE id = $1", taken.id)


async def clear(pool: asyncpg.Pool, window: Window, key: str) -> int:
    """Forget every event of `key`: how many there were."""
    status: str = await pool.execute(
        "DELETE FROM throttle_events WHERE scope = $1 AND key = $2", window.scope, key
    )
    return int(status.split()[-1])


async def _purge(conn: asyncpg.Connection, window: Window, now: datetime) -> None:
    """Events out of the window are no longer needed: up to 100 a time, of any key."""
    await conn.execute(
        """DELETE FROM throttle_events WHERE id IN (
               SELECT id FROM throttle_events WHERE scope = $1 AND at <= $2
               LIMIT 100 FOR UPDATE SKIP LOCKED)""",
        window.scope,
        now - window.span,
    )


def _refusal(window: Window) -> str:
    minutes = window.seconds / 60
    return f"too many {window.what}: {window.limit} in {minutes:g} minutes; try again later"
