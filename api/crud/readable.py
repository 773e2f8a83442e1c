"""The CRUD routes' fetches, filtered by api/access.py's rule: what the caller may read.

A missing object and one the caller may not read raise the same 404 (absent and forbidden
look alike). An id that does not even match the contract's pattern cannot exist: 404 too,
without a query (and without sending PostgreSQL a NUL byte).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.access import DEVICE, STOCK, devices_visible, stocks_visible
from api.error_codes import ErrorCode
from api.errors import Invalid, NotFound
from api.models import Device, Stock, User


async def device_or_404(session: AsyncSession, user: User, device_id: str) -> Device:
    """The device if `user` may read it, else NotFound `device_not_found`."""
    device = None
    if DEVICE.pattern.fullmatch(device_id):
        query = select(Device).where(Device.device_id == device_id, devices_visible(user))
        device = await session.scalar(query)
    if device is None:
        raise NotFound(f"no device {device_id[: DEVICE.shown]!r}", code=DEVICE.code)
    return device


async def stock_or_404(session: AsyncSession, user: User, ticker: str) -> Stock:
    """The stock if `user` may read it (shared, or theirs), else NotFound `stock_not_found`."""
    stock = None
    if STOCK.pattern.fullmatch(ticker):
        stock = await session.scalar(
            select(Stock).where(Stock.ticker == ticker, stocks_visible(user))
        )
    if stock is None:
        raise NotFound(f"no stock {ticker[: STOCK.shown]!r}", code=STOCK.code)
    return stock


async def require_tickers(session: AsyncSession, user: User, tickers: Iterable[str]) -> None:
    """Invalid (422) `unknown_ticker` unless every ticker exists and `user` may read it."""
    wanted = set(tickers)
    if not wanted:
        return
    query = select(Stock.ticker).where(Stock.ticker.in_(wanted), stocks_visible(user))
    missing = wanted - set((await session.scalars(query)).all())
    if missing:
        names = sorted(missing)
        raise Invalid(
            f"unknown ticker(s): {', '.join(names[:10])}",
            code=ErrorCode.UNKNOWN_TICKER,
            details={"tickers": names},
        )


async def require_device(session: AsyncSession, user: User, device_id: str) -> None:
    """Invalid (422) `unknown_device` unless the device exists and `user` may read it."""
    query = select(Device.device_id).where(Device.device_id == device_id, devices_visible(user))
    if await session.scalar(query) is None:
        raise Invalid(
            f"unknown device {device_id!r}",
            code=ErrorCode.UNKNOWN_DEVICE,
            details={"device_id": device_id},
        )
