"""Committing a CRUD change: constraint violations become 409s, never 500s."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.error_codes import ErrorCode
from api.errors import ApiError, Conflict

UNIQUE_VIOLATION = "23505"


async def commit(session: AsyncSession, *, duplicate: ApiError | None = None) -> None:
    """Commit; a unique violation raises `duplicate`, any other integrity error a 409.

    The routes check first (exists? readable?), so these only fire on a race with another
    request, e.g. two creations of one id or a ticker deleted meanwhile.
    """
    async with _translated(session, duplicate):
        await session.commit()


async def flush(session: AsyncSession, *, duplicate: ApiError | None = None) -> None:
    """Write what the session holds without committing, translated as `commit` does: the
    change then holds its rows' locks, so a concurrent one of the same key waits for this
    transaction and learns whether it lost before doing anything outside the database."""
    async with _translated(session, duplicate):
        await session.flush()


@contextlib.asynccontextmanager
async def _translated(session: AsyncSession, duplicate: ApiError | None) -> AsyncIterator[None]:
    try:
        yield
    except IntegrityError as exc:
        await session.rollback()
        state = getattr(exc.orig, "sqlstate", None)
        if state == UNIQUE_VIOLATION and duplicate is not None:
            raise duplicate from None
        raise Conflict(
            "a concurrent change conflicts with this one; retry", code=ErrorCode.CONCURRENT_CHANGE
        ) from None
