"""The SQL of the live stream: journal pages and the owners of devices and stocks."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from api.stream.subscriber import DEVICE, TICKER, Key

Owners = dict[Key, uuid.UUID | None]
PAGE: Final = 5000
"""Journal rows read at once, live and for a backlog."""

_AFTER: Final = """
    SELECT id, kind, subject, audience, data FROM stream_events
    WHERE id > $1 ORDER BY id LIMIT $2
"""
_RANGE: Final = """
    SELECT id, kind, subject, audience, data FROM stream_events
    WHERE id > $1 AND id <= $2 AND ($3::text[] IS NULL OR subject = ANY($3))
    ORDER BY id LIMIT $4
"""
_WINDOW: Final = """
    SELECT (SELECT min(id) FROM stream_events) AS first,
           (SELECT last_id FROM stream_state) AS last
"""
_OWNERS: Final = """
    SELECT 'd' AS kind, device_id AS subject, owner_id FROM devices WHERE device_id = ANY($1)
    UNION ALL SELECT 't', ticker, NULL::uuid FROM stocks WHERE ticker = ANY($2)
"""


@dataclass(frozen=True, slots=True)
class Window:
    """What the journal holds: ids `first`…`last` (`first` None: nothing kept)."""

    first: int | None
    last: int

    def keeps_after(self, cursor: int) -> bool:
        """Whether every event after `cursor` is still there."""
        return cursor >= self.last or (self.first is not None and self.first <= cursor + 1)


async def after(conn: asyncpg.Connection, position: int, limit: int = PAGE) -> list[Any]:
    return list(await conn.fetch(_AFTER, position, limit))


async def page(
    conn: asyncpg.Connection,
    cursor: int,
    until: int,
    subjects: Collection[str] | None,
    limit: int = PAGE,
) -> tuple[Window, list[Any]]:
    """Events in (cursor, until] about `subjects` (None: all), at most `limit`, and the
    journal's window, from one snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        window = await conn.fetchrow(_WINDOW)
        rows = await conn.fetch(
            _RANGE, cursor, until, None if subjects is None else list(subjects), limit
        )
    assert window is not None
    return Window(window["first"], window["last"]), list(rows)


async def owners(conn: asyncpg.Connection, keys: Collection[Key]) -> Owners:
    """The owner of each device and stock in `keys` that exists."""
    devices = [subject for kind, subject in keys if kind == DEVICE]
    tickers = [subject for kind, subject in keys if kind == TICKER]
    rows = await conn.fetch(_OWNERS, devices, tickers)
    return {(row["kind"], row["subject"]): row["owner_id"] for row in rows}


_ENDED: Final = """
SELECT s.jti FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS s (user_id, jti, issued)
LEFT JOIN users u ON u.id = s.user_id
WHERE u.id IS NULL OR NOT u.is_active OR u.tokens_valid_after > s.issued
   OR EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = s.jti)
"""


async def sessions_ended(
    conn: asyncpg.Connection, logins: Collection[tuple[uuid.UUID, uuid.UUID, datetime]]
) -> set[uuid.UUID]:
    """Of these logins (user, token `jti`, issued at), the `jti`s that no longer hold: logged
    out, issued before a password change, the account deactivated or deleted (api/sessions.py)."""
    users, jtis, issued = (list(column) for column in zip(*logins, strict=True))
    rows = await conn.fetch(_ENDED, users, jtis, issued)
    return {row["jti"] for row in rows}
