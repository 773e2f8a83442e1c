"""One page of an ORM query: the rows in the query's (stable) order, and the total count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def fetch_page(
    session: AsyncSession, query: Select[tuple[T]], limit: int, offset: int
) -> tuple[Sequence[T], int]:
    """Rows `offset … offset+limit` of `query` (which must be ordered) and how many match."""
    counted: Select[Any] = select(func.count()).select_from(query.order_by(None).subquery())
    total = (await session.execute(counted)).scalar_one()
    rows = (await session.scalars(query.limit(limit).offset(offset))).all()
    return rows, int(total)
