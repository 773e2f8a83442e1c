"""The last active admin cannot be deleted, demoted or deactivated.

Race-safe: the active admins' rows are locked (`FOR UPDATE`, in id order) for the rest of the
caller's transaction, so of two admins removing each other at once the second waits for the
first to commit, then sees it is the last one left.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.error_codes import ErrorCode
from api.errors import Conflict
from api.models import User

CODE = ErrorCode.LAST_ADMIN
MESSAGE = (
    "the last active admin cannot be deleted, demoted or deactivated; "
    "make another account an admin first"
)


async def keep_an_admin(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Conflict `last_admin` if `user_id` is the only active admin; call before removing its
    rights in the same transaction (the lock is held until that transaction ends)."""
    users = User.__table__.c  # fastapi-users' columns are typed as plain values
    query = (
        select(users.id)
        .where(users.is_superuser, users.is_active)
        .order_by(users.id)
        .with_for_update()
    )
    admins = set((await session.scalars(query)).all())
    if admins == {user_id}:
        raise Conflict(MESSAGE, code=CODE)
