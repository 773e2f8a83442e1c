"""/api/dashboards: dashboards users build (DESIGN.md "Dashboards").

The owner edits; users in `shared_with` view (a change → 403 `dashboard_read_only`); anyone
else gets 404 `dashboard_not_found`, as for what does not exist. An admin reads and edits
every stored dashboard. Provisioned dashboards (`TICKWIRE_DASHBOARDS_DIR`) are viewed by every
user and changed by nobody. Each save increments `version`; a PUT of another version than the
stored one is 409 `version_conflict` (someone saved in between).
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Path, Request, Response

from api.deps import CurrentUser, Limit, Offset, PoolDep
from api.error_codes import ErrorCode
from api.errors import Conflict, Forbidden, Invalid, NotFound
from api.models import User
from api.schemas.dashboards import UID_RE, Dashboard, problems, shared_ids

router = APIRouter()
UidPath = Annotated[str, Path(description="the dashboard's uid")]
_COLUMNS = "uid, owner_id, model, shared_with, version, created_at, updated_at"


def _provisioned(request: Request) -> dict[str, Dashboard]:
    found: dict[str, Dashboard] = request.state.provisioned
    return found


def _answer(row: asyncpg.Record | dict[str, Any], user: User) -> dict[str, Any]:
    """The model as exported, with `meta` (who owns it, whether the caller may edit it)."""
    model = row["model"] if isinstance(row["model"], dict) else json.loads(row["model"])
    owner = row["owner_id"]
    return {
        "uid": row["uid"],
        **model,
        "shared_with": [str(u) for u in row["shared_with"]],
        "version": row["version"],
        "meta": {
            "owner_id": str(owner) if owner else None,
            "provisioned": owner is None,
            "can_edit": owner is not None and (owner == user.id or user.is_superuser),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        },
    }


def _provisioned_answer(dashboard: Dashboard, user: User) -> dict[str, Any]:
    row: dict[str, Any] = {
        "uid": dashboard.uid,
        "owner_id": None,
        "model": dashboard.stored(),
        "shared_with": [],
        "version": dashboard.version or 1,
        "created_at": None,
        "updated_at": None,
    }
    return _answer(row, user)


#: SQL: the caller (parameter $1, NULL for an admin) may view the row.
_VISIBLE = "($1::uuid IS NULL OR owner_id = $1 OR $1 = ANY (shared_with))"


async def _stored(
    conn: asyncpg.Connection, user: User, uid: str, lock: bool = False
) -> asyncpg.Record:
    """The row if the caller may view it; NotFound alike for absent and hidden."""
    row = None
    if UID_RE.fullmatch(uid) is not None:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM dashboards WHERE {_VISIBLE} AND uid = $2"
            + (" FOR UPDATE" if lock else ""),
            None if user.is_superuser else user.id,
            uid,
        )
    if row is None:
        raise NotFound(f"no dashboard {uid[:40]!r}", code=ErrorCode.DASHBOARD_NOT_FOUND)
    return row


def _may_edit(row: asyncpg.Record, user: User) -> None:
    if not (user.is_superuser or row["owner_id"] == user.id):
        raise Forbidden(
            "this dashboard is shared with you to view: save a copy to change it",
            code=ErrorCode.DASHBOARD_READ_ONLY,
        )


def _not_provisioned(request: Request, uid: str) -> None:
    if uid in _provisioned(request):
        raise Forbidden(
            f"dashboard {uid!r} is provisioned from files: save a copy to change it",
            code=ErrorCode.DASHBOARD_READ_ONLY,
        )


async def _checked(conn: asyncpg.Connection, body: Dashboard) -> list[uuid.UUID]:
    """Invalid (422) with every path that the fields alone do not check; the users shared
    with, who must exist (422 `unknown_user`)."""
    wrong = problems(body)
    if wrong:
        raise Invalid("the dashboard is not valid", details=wrong)
    users = shared_ids(body)
    if users:
        known = {
            r["id"] for r in await conn.fetch("SELECT id FROM users WHERE id = ANY($1)", users)
        }
        unknown = [str(u) for u in users if u not in known]
        if unknown:
            raise Invalid(
                "shared_with names users that do not exist",
                code=ErrorCode.UNKNOWN_USER,
                details={"loc": ["body", "shared_with"], "users": unknown[:10]},
            )
    return users


@router.get("/dashboards", summary="The dashboards the caller may view")
async def list_dashboards(
    request: Request, user: CurrentUser, pool: PoolDep, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    """Provisioned ones first (by uid), then stored ones by title; each item is the model
    without its panels and variables (GET one for those)."""
    provisioned = [_provisioned_answer(d, user) for d in _provisioned(request).values()]
    shown = provisioned[offset : offset + limit]
    viewer = None if user.is_superuser else user.id
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM dashboards WHERE {_VISIBLE}"
            " ORDER BY title, uid LIMIT $2 OFFSET $3",
            viewer,
            limit - len(shown),
            max(0, offset - len(provisioned)),
        )
        stored = await conn.fetchval(f"SELECT count(*) FROM dashboards WHERE {_VISIBLE}", viewer)
    items = [
        {k: v for k, v in d.items() if k not in ("panels", "variables")}
        for d in shown + [_answer(r, user) for r in rows]
    ]
    return {"items": items, "total": len(provisioned) + stored, "limit": limit, "offset": offset}


@router.post(
    "/dashboards",
    status_code=201,
    summary="Create (or import) a dashboard",
    description="The body is the dashboard model (an export imports as is: `version` and "
    "`meta` are ignored). Without `uid` one is generated; a `uid` in use → 409 "
    "`dashboard_exists`. Answers the stored model, at version 1.",
)
async def create_dashboard(
    request: Request, user: CurrentUser, pool: PoolDep, body: Dashboard
) -> Any:
    uid = body.uid or secrets.token_urlsafe(9).replace("_", "x").replace("-", "y")
    if uid in _provisioned(request):
        raise Conflict(f"dashboard {uid!r} exists", code=ErrorCode.DASHBOARD_EXISTS)
    async with pool.acquire() as conn, conn.transaction():
        users = await _checked(conn, body)
        row = await conn.fetchrow(
            "INSERT INTO dashboards (uid, owner_id, title, model, shared_with)"
            " VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (uid) DO NOTHING"
            f" RETURNING {_COLUMNS}",
            uid,
            user.id,
            body.title,
            json.dumps(body.stored()),
            users,
        )
    if row is None:
        raise Conflict(f"dashboard {uid!r} exists", code=ErrorCode.DASHBOARD_EXISTS)
    return _answer(row, user)


@router.get("/dashboards/{uid}", summary="A dashboard (its export)")
async def get_dashboard(uid: UidPath, request: Request, user: CurrentUser, pool: PoolDep) -> Any:
    """The model with `meta`; POST it back to import it. 404 `dashboard_not_found` unless the
    caller owns it, it is shared with them, or it is provisioned."""
    if uid in _provisioned(request):
        return _provisioned_answer(_provisioned(request)[uid], user)
    async with pool.acquire() as conn:
        return _answer(await _stored(conn, user, uid), user)


@router.put(
    "/dashboards/{uid}",
    summary="Save a dashboard",
    description="The whole model, with the `version` it was read at: another → 409 "
    "`version_conflict` (details hold the stored version). Answers the model at the next "
    "version. Shared with the caller, or provisioned → 403 `dashboard_read_only`.",
)
async def put_dashboard(
    uid: UidPath, request: Request, user: CurrentUser, pool: PoolDep, body: Dashboard
) -> Any:
    _not_provisioned(request, uid)
    if body.uid is not None and body.uid != uid:
        details = [{"loc": ["body", "uid"], "msg": "differs from the path", "type": "uid"}]
        raise Invalid("the body's uid is not the path's", details=details)
    if body.version is None:
        details = [{"loc": ["body", "version"], "msg": "required to save", "type": "missing"}]
        raise Invalid("version is required", details=details)
    async with pool.acquire() as conn, conn.transaction():
        found = await _stored(conn, user, uid, lock=True)
        _may_edit(found, user)
        if found["version"] != body.version:
            raise Conflict(
                f"dashboard {uid!r} was saved since version {body.version}",
                code=ErrorCode.VERSION_CONFLICT,
                details={"version": found["version"]},
            )
        users = await _checked(conn, body)
        row = await conn.fetchrow(
            "UPDATE dashboards SET title = $2, model = $3::jsonb, shared_with = $4,"
            " version = version + 1, updated_at = now() WHERE uid = $1"
            f" RETURNING {_COLUMNS}",
            uid,
            body.title,
            json.dumps(body.stored()),
            users,
        )
    return _answer(row, user)


@router.delete("/dashboards/{uid}", status_code=204, summary="Delete a dashboard")
async def delete_dashboard(
    uid: UidPath, request: Request, user: CurrentUser, pool: PoolDep
) -> Response:
    """The owner (or an admin) only: 403 `dashboard_read_only` for a viewer or a provisioned
    one."""
    _not_provisioned(request, uid)
    async with pool.acquire() as conn, conn.transaction():
        found = await _stored(conn, user, uid, lock=True)
        _may_edit(found, user)
        await conn.execute("DELETE FROM dashboards WHERE uid = $1", uid)
    return Response(status_code=204)
