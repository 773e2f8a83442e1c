"""/api/silences: quiet a user's notification channels for the alerts that match, for a time.

A silenced change is still stored and streamed; only its notifications are not made (the
notifier checks the silences of a channel's owner at the time of each change). Silences
belong to their creator (an admin sees all); another user's is 404 `silence_not_found`.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Path, Query, Response

from api.access import owner_filter
from api.deps import CurrentUser, Limit, Offset, PoolDep
from api.error_codes import ErrorCode
from api.errors import NotFound
from api.pagination import Page
from api.schemas.notifications import SilenceRead, SilenceWrite

router = APIRouter()
Id = Annotated[int, Path(alias="id", ge=1, le=2**63 - 1, description="the silence's id")]
_OWNED: Final = "($1::uuid IS NULL OR owner_id = $1)"


@router.get(
    "/silences",
    response_model=Page[SilenceRead],
    summary="The caller's silences",
    description="Newest first; `active=true`: only those whose window holds now, "
    "`active=false`: only those that do not (future or over).",
)
async def list_silences(
    user: CurrentUser,
    pool: PoolDep,
    active: Annotated[bool | None, Query(description="in force now, or not")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[SilenceRead]:
    now = "(starts_at <= now() AND now() < ends_at)"
    where = _OWNED + ("" if active is None else f" AND {now} = $4")
    args = [owner_filter(user), limit, offset] + ([] if active is None else [active])
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT * FROM silences WHERE {where} ORDER BY id DESC LIMIT $2 OFFSET $3", *args
        )
        count = where.replace("$4", "$2")
        total = await conn.fetchval(
            f"SELECT count(*) FROM silences WHERE {count}", args[0], *args[3:]
        )
    items = [SilenceRead.of(row) for row in rows]
    return Page[SilenceRead](items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/silences",
    status_code=201,
    response_model=SilenceRead,
    summary="Silence some alerts for a time",
    description='`{"matchers":{"kind"?,"device_id"?,"ticker"?},"starts_at","ends_at",'
    '"comment"}`: the caller\'s channels send nothing for changes of alerts matching every '
    "given matcher (at least one) made within [`starts_at`, `ends_at`). Times need a time "
    "zone; `starts_at` must be before `ends_at` (else 422). The alerts are still stored and "
    "streamed.",
)
async def create_silence(body: SilenceWrite, user: CurrentUser, pool: PoolDep) -> SilenceRead:
    m = body.matchers
    row = await pool.fetchrow(
        """INSERT INTO silences (owner_id, kind, device_id, ticker, starts_at, ends_at, comment)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *""",
        user.id,
        m.kind,
        m.device_id,
        m.ticker,
        body.starts_at,
        body.ends_at,
        body.comment,
    )
    return SilenceRead.of(row)


@router.delete(
    "/silences/{id}",
    status_code=204,
    summary="End a silence",
    description="Deleted: changes from now on are notified again (those made while it held "
    "are not sent afterwards). 404 `silence_not_found` for another user's.",
)
async def delete_silence(silence_id: Id, user: CurrentUser, pool: PoolDep) -> Response:
    deleted = await pool.fetchval(
        f"DELETE FROM silences WHERE id = $2 AND {_OWNED} RETURNING id",
        owner_filter(user),
        silence_id,
    )
    if deleted is None:
        raise NotFound(f"no silence {silence_id}", code=ErrorCode.SILENCE_NOT_FOUND)
    return Response(status_code=204)
