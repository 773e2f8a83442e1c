"""Who may read what: a user reads what they own, an admin (superuser) reads everything.

Every route that returns data (CRUD, history, stats, export, stream) asks here.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, or_, true

from api.errors import NotFound
from api.models import Device, Stock, User
from tickwire.contract import ID_RE, TICKER_RE


def devices_visible(user: User) -> ColumnElement[bool]:
    return true() if user.is_superuser else Device.owner_id == user.id


def stocks_visible(user: User) -> ColumnElement[bool]:
    """Stocks without an owner are shared market data; others belong to their owner."""
    if user.is_superuser:
        return true()
    return or_(Stock.owner_id.is_(None), Stock.owner_id == user.id)


async def readable_device(
    conn: asyncpg.Connection | asyncpg.Pool, user: User, device_id: str
) -> None:
    """Raise NotFound unless `user` may read the device (absent and forbidden look alike).

    An id outside the MQTT contract's pattern cannot exist: 404 without a query (PostgreSQL
    could not even be sent a NUL byte in text).
    """
    if ID_RE.fullmatch(device_id) is None:
        raise NotFound(f"no device {device_id[:80]!r}", code="device_not_found")
    row: Any = await conn.fetchrow("SELECT owner_id FROM devices WHERE device_id = $1", device_id)
    if row is None or not (user.is_superuser or row["owner_id"] == user.id):
        raise NotFound(f"no device {device_id!r}", code="device_not_found")


async def readable_stock(conn: asyncpg.Connection | asyncpg.Pool, user: User, ticker: str) -> None:
    """Raise NotFound unless `user` may read the stock: shared, their own, or any for an admin."""
    if TICKER_RE.fullmatch(ticker) is None:
        raise NotFound(f"no stock {ticker[:40]!r}", code="stock_not_found")
    row: Any = await conn.fetchrow("SELECT owner_id FROM stocks WHERE ticker = $1", ticker)
    if row is None or not (
        user.is_superuser or row["owner_id"] is None or row["owner_id"] == user.id
    ):
        raise NotFound(f"no stock {ticker!r}", code="stock_not_found")
