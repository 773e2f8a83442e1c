"""Committing a CRUD change: constraint violations become 409s, never 500s."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import ApiError, Conflict

UNIQUE_VIOLATION = "23505"


async def commit(session: AsyncSession, *, duplicate: ApiError | None = None) -> None:
    """Commit; a unique violation raises `duplicate`, any other integrity error a 409.

    The routes check first (exists? readable?), so these only fire on a race with another
    request, e.g. two creations of one id or a ticker deleted meanwhile.
    """
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        state = getattr(exc.orig, "sqlstate", None)
        if state == UNIQUE_VIOLATION and duplicate is not None:
            raise duplicate from None
        raise Conflict(
            "a concurrent change conflicts with this one; retry", code="concurrent_change"
        ) from None
