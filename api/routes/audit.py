"""/api/admin/audit and /api/admin/lockouts: who did what, and which accounts are locked out
by failed logins (api/logins.py), for admins."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api import throttle
from api.audit import AuditAction, Entry, record_request
from api.deps import AdminUser, Limit, Offset, PoolDep
from api.error_codes import ErrorCode
from api.errors import NotFound
from api.logins import LoginPolicy
from api.pagination import Page

router = APIRouter()


class AuditEntryRead(BaseModel):
    id: int
    at: datetime
    action: AuditAction
    actor_id: uuid.UUID | None = Field(
        description="who acted (null: the system or an anonymous caller)"
    )
    actor: str | None = Field(description="their email at the time")
    subject: str | None = Field(description="what it was done to: an account's email, a device id")
    address: str | None = Field(description="the client address of the request")
    details: dict[str, Any]


class LockoutRead(BaseModel):
    user_id: uuid.UUID
    email: str
    failures: int = Field(description="failed logins within the window")
    locked_until: datetime = Field(description="when the next attempt is allowed again")


@router.get(
    "/admin/audit",
    response_model=Page[AuditEntryRead],
    summary="The audit log (admin)",
    description=(
        "Newest first: failed logins and lockouts of accounts, logouts, password and account "
        "changes, account deletions, lockouts cleared, device credentials issued, device "
        "deletions and dead-letter replays. Never a password or a token. Non-admins: 403."
    ),
)
async def list_audit(
    pool: PoolDep,
    _admin: AdminUser,
    limit: Limit = 100,
    offset: Offset = 0,
    action: Annotated[AuditAction | None, Query(description="only this action")] = None,
) -> Page[AuditEntryRead]:
    async with pool.acquire() as conn:
        total = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE $1::text IS NULL OR action = $1", action
        )
        rows = await conn.fetch(
            """SELECT * FROM audit_log WHERE $1::text IS NULL OR action = $1
               ORDER BY id DESC LIMIT $2 OFFSET $3""",
            action,
            limit,
            offset,
        )
    items = [AuditEntryRead(**{**row, "details": orjson.loads(row["details"])}) for row in rows]
    return Page[AuditEntryRead](items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/admin/lockouts",
    response_model=list[LockoutRead],
    summary="Accounts locked out by failed logins (admin)",
    description=(
        "Accounts whose window of failed logins is full: their logins answer 429 "
        "`too_many_attempts` until `locked_until`, when it clears itself. Non-admins: 403."
    ),
)
async def list_lockouts(pool: PoolDep, request: Request, _admin: AdminUser) -> list[LockoutRead]:
    policy: LoginPolicy = request.state.logins
    window = policy.account
    rows = await pool.fetch(
        """SELECT u.id AS user_id, u.email, count(*) AS failures,
                  (array_agg(t.at ORDER BY t.at DESC))[$3] + $2::interval AS locked_until
           FROM throttle_events t JOIN users u ON t.key = u.id::text
           WHERE t.scope = 'login_failure' AND t.at > $1::timestamptz - $2::interval
           GROUP BY u.id, u.email HAVING count(*) >= $3
           ORDER BY locked_until DESC""",
        policy.clock(),
        window.span,
        window.limit,
    )
    return [LockoutRead(**row) for row in rows]


@router.delete(
    "/admin/lockouts/{user_id}",
    status_code=204,
    response_class=Response,
    summary="Clear an account's failed logins (admin)",
    description="The account may log in again at once. 404 `lockout_not_found` if it has none.",
)
async def clear_lockout(
    pool: PoolDep,
    request: Request,
    admin: AdminUser,
    user_id: Annotated[uuid.UUID, Path(description="the account's id")],
) -> Response:
    policy: LoginPolicy = request.state.logins
    email = await pool.fetchval("SELECT email FROM users WHERE id = $1", user_id)
    cleared = await throttle.clear(pool, policy.account, str(user_id)) if email else 0
    if not cleared:
        raise NotFound("that account has no failed logins", code=ErrorCode.LOCKOUT_NOT_FOUND)
    entry = Entry(
        AuditAction.LOCKOUT_CLEARED, actor=admin, subject=email, details={"failures": cleared}
    )
    await record_request(request, entry)
    return Response(status_code=204)
