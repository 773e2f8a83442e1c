"""/api/admin/users: every account by email, for admins (changes go through fastapi-users'
`PATCH /users/{id}`, which keeps the last admin and audits the change)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import AdminUser, Limit, Offset, PoolDep
from api.pagination import Page

router = APIRouter()


class AccountRead(BaseModel):
    id: uuid.UUID
    email: str
    is_active: bool
    is_superuser: bool
    is_verified: bool
    created_at: datetime
    devices: int


@router.get(
    "/admin/users",
    response_model=Page[AccountRead],
    summary="Every account (admin)",
    description=(
        "Accounts by email, with how many devices each owns; `email` filters by a part of the "
        "address (case-insensitive). Make an admin or deactivate with `PATCH /users/{id}` "
        "(`is_superuser`, `is_active`). Non-admins: 403."
    ),
)
async def list_users(
    pool: PoolDep,
    _admin: AdminUser,
    limit: Limit = 100,
    offset: Offset = 0,
    email: Annotated[
        str | None, Query(max_length=320, pattern=r"^[^\x00]*$", description="part of it")
    ] = None,
) -> Page[AccountRead]:
    where = "WHERE $1::text IS NULL OR strpos(lower(u.email), lower($1)) > 0"
    async with pool.acquire() as conn:
        total = await conn.fetchval(f"SELECT count(*) FROM users u {where}", email)
        rows = await conn.fetch(
            f"""SELECT u.id, u.email, u.is_active, u.is_superuser, u.is_verified, u.created_at,
                       (SELECT count(*) FROM devices d WHERE d.owner_id = u.id) AS devices
                FROM users u {where} ORDER BY lower(u.email), u.id LIMIT $2 OFFSET $3""",
            email,
            limit,
            offset,
        )
    items = [AccountRead(**dict(row)) for row in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)
