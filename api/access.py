"""Who may read what, the one place the rule is written.

A user reads the devices they own and every stock (market data is shared: a stock has no
owner, so nobody can claim a ticker and hide it from others); an admin (superuser) reads
everything. An alert is read by its owner (their rules and watchlist levels), and a built-in
one (no owner) by whoever may read its device or ticker. What one may not read answers
exactly as what does not exist (404).

Every path asks here, in the form it needs: `may_read` (in memory: the live stream),
`visible_sql` / `alert_visible_sql` (plain SQL: export, alerts), `devices_visible` /
`stocks_visible` / `rules_visible` (ORM: CRUD) and `require_readable` (a check before a
query: history, stats, export, commands, stream filters). tests/test_access.py proves they
agree. Admin-only resources (dead letters) need no rule here: their routes depend on a
superuser (api/deps.py). Writing market data is the one write rule kept here
(`require_market_admin`), beside the rule that makes it everyone's.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final

import asyncpg
from sqlalchemy import ColumnElement, true

from api.error_codes import ErrorCode
from api.errors import Forbidden, NotFound
from api.models import AlertRule, Device, User
from tickwire.contract import ID_RE, TICKER_RE


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of readable subject: its table, its key, and how the rule treats it."""

    name: str
    table: str
    column: str
    pattern: re.Pattern[str]
    """Ids outside the MQTT contract's pattern cannot exist: 404 without a query (PostgreSQL
    could not even be sent a NUL byte in text)."""
    shared: bool
    """Market data: rows have no owner and everyone reads them (stocks); else a row is read by
    its owner and admins, one without an owner by admins only (devices)."""
    code: ErrorCode
    shown: int
    """How much of a malformed id a 404 repeats."""


DEVICE: Final = Kind("device", "devices", "device_id", ID_RE, False, ErrorCode.DEVICE_NOT_FOUND, 80)
STOCK: Final = Kind("stock", "stocks", "ticker", TICKER_RE, True, ErrorCode.STOCK_NOT_FOUND, 40)


def may_read(user_id: uuid.UUID, is_admin: bool, kind: Kind, owner: uuid.UUID | None) -> bool:
    """The rule, for an existing subject of `kind` owned by `owner` (None: no owner, as every
    stock)."""
    return is_admin or owner == user_id or (kind.shared and owner is None)


def addressed_to(user_id: uuid.UUID, is_admin: bool, audience: uuid.UUID | None) -> bool:
    """An event with an audience (a user's own alert) goes to that user and to admins only."""
    return audience is None or is_admin or audience == user_id


def owner_filter(user: User) -> uuid.UUID | None:
    """The user whose readable rows a query must be limited to; None for an admin."""
    return None if user.is_superuser else user.id


def visible_sql(kind: Kind, column: str, user: str) -> str:
    """SQL: `column` names a subject of `kind` that the user (parameter `user`) may read.

    For non-admins only (see `owner_filter`); `may_read` in SQL."""
    if kind.shared:
        return f"{column} IN (SELECT {kind.column} FROM {kind.table})"
    return f"{column} IN (SELECT {kind.column} FROM {kind.table} WHERE owner_id = {user})"


def alert_visible_sql(user: str) -> str:
    """SQL on `alerts a`: the user (parameter `user`, a non-admin) may read the alert."""
    return (
        f"(a.owner_id = {user} OR (a.owner_id IS NULL AND ("
        f"{visible_sql(DEVICE, 'a.device_id', user)}"
        f" OR {visible_sql(STOCK, 'a.ticker', user)})))"
    )


def devices_visible(user: User) -> ColumnElement[bool]:
    """ORM: the devices `user` may read."""
    return true() if user.is_superuser else Device.owner_id == user.id


def stocks_visible(user: User) -> ColumnElement[bool]:
    """ORM: the stocks `user` may read: every one (market data is shared)."""
    return true()


def require_market_admin(user: User) -> None:
    """Forbidden (403 `shared_stock_admin_only`) unless `user` is an admin: only admins add,
    change or delete stocks, which everyone reads."""
    if not user.is_superuser:
        raise Forbidden(
            "stocks are shared market data: only an admin may add, change or delete one",
            code=ErrorCode.SHARED_STOCK_ADMIN_ONLY,
        )


def rules_visible(user: User) -> ColumnElement[bool]:
    """ORM: the alert rules `user` may read (their own)."""
    return true() if user.is_superuser else AlertRule.owner_id == user.id


async def require_readable(
    conn: asyncpg.Connection | asyncpg.Pool, user: User, kind: Kind, subjects: Collection[str]
) -> None:
    """NotFound for the first (in sorted order) of `subjects` that `user` may not read,
    absent and forbidden alike."""
    wanted = sorted(subjects)
    for subject in wanted:
        if kind.pattern.fullmatch(subject) is None:
            raise NotFound(f"no {kind.name} {subject[: kind.shown]!r}", code=kind.code)
    if not wanted:
        return
    owners = await _owners(conn, kind, wanted)
    for subject in wanted:
        if subject not in owners or not may_read(user.id, user.is_superuser, kind, owners[subject]):
            raise NotFound(f"no {kind.name} {subject!r}", code=kind.code)


async def readable_device(
    conn: asyncpg.Connection | asyncpg.Pool, user: User, device_id: str
) -> None:
    """NotFound `device_not_found` unless `user` may read the device."""
    await require_readable(conn, user, DEVICE, (device_id,))


async def readable_stock(conn: asyncpg.Connection | asyncpg.Pool, user: User, ticker: str) -> None:
    """NotFound `stock_not_found` unless `user` may read the stock."""
    await require_readable(conn, user, STOCK, (ticker,))


async def _owners(
    conn: asyncpg.Connection | asyncpg.Pool, kind: Kind, subjects: list[str]
) -> dict[str, uuid.UUID | None]:
    owner = "NULL::uuid" if kind.shared else "owner_id"
    rows: Any = await conn.fetch(
        f"SELECT {kind.column} AS subject, {owner} AS owner_id FROM {kind.table}"
        f" WHERE {kind.column} = ANY($1)",
        subjects,
    )
    return {row["subject"]: row["owner_id"] for row in rows}
