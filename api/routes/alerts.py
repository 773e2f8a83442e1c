"""/api/alerts: what the alert engine raised, and acknowledging it.

Who sees an alert is api/access.py's rule (`alert_visible_sql`); an alert one may not see
answers 404 `alert_not_found`, as an absent one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Path, Query

from api import access
from api.deps import CurrentUser, Limit, Offset, PoolDep
from api.error_codes import ErrorCode
from api.errors import Conflict, NotFound
from api.history.timerange import parse_instant
from api.models import User
from api.pagination import Page
from api.schemas.alerts import (
    AckedCount,
    AckMany,
    AlertEventRead,
    AlertKind,
    AlertRead,
    StateFilter,
)
from api.schemas.common import DeviceId, Ticker
from tickwire import alert_changes

router = APIRouter()

AlertId = Annotated[int, Path(alias="id", ge=1, le=2**63 - 1, description="the alert's id")]
_INSTANT = "ISO-8601 (naive means UTC) or epoch milliseconds"


class Filters:
    """WHERE clauses and their arguments, numbered as they are added."""

    def __init__(self, user: User) -> None:
        self.clauses: list[str] = []
        self.args: list[Any] = []
        owner = access.owner_filter(user)
        if owner is not None:
            self.args.append(owner)
            self.clauses.append(access.alert_visible_sql("$1"))

    def add(self, clause: str, value: Any) -> None:
        """`clause` with `$?` where the value goes."""
        self.args.append(value)
        self.clauses.append(clause.replace("$?", f"${len(self.args)}"))

    @property
    def where(self) -> str:
        return " AND ".join(self.clauses) or "true"


@dataclass
class AlertQuery:
    """The filters of `GET /alerts`, as query parameters."""

    state: Annotated[StateFilter | None, Query(description="only this state")] = None
    kind: Annotated[AlertKind | None, Query(description="only this kind")] = None
    device_id: Annotated[DeviceId | None, Query(description="only on this device")] = None
    ticker: Annotated[Ticker | None, Query(description="only on this ticker")] = None
    since: Annotated[str | None, Query(description=f"raised at or after, {_INSTANT}")] = None
    until: Annotated[str | None, Query(description=f"raised before, {_INSTANT}")] = None

    def filters(self, user: User) -> Filters:
        """The WHERE clauses: what `user` may see, narrowed by these filters."""
        filters = Filters(user)
        _narrow(filters, self.state, self.kind, self.device_id, self.ticker)
        since = parse_instant(self.since, "since") if self.since else None
        until = parse_instant(self.until, "until") if self.until else None
        for clause, value in (
            ("a.raised_at >= $?", since),
            ("a.raised_at < $?", until),
        ):
            if value is not None:
                filters.add(clause, value)
        return filters


def _narrow(
    filters: Filters, state: str | None, kind: str | None, device: str | None, ticker: str | None
) -> None:
    """Add the filters `GET /alerts` and `POST /alerts/ack` share."""
    if state == "open":
        filters.clauses.append("a.state <> 'CLEARED'")
    elif state is not None:
        filters.add("a.state = $?", state)
    for clause, value in (
        ("a.kind = $?", kind),
        ("a.device_id = $?", device),
        ("a.ticker = $?", ticker),
    ):
        if value is not None:
            filters.add(clause, value)


@router.get(
    "/alerts",
    response_model=Page[AlertRead],
    summary="List alerts",
    description="Newest first (by `raised_at`). `state=open`: ACTIVE or ACKED. `since` / "
    "`until` bound `raised_at`. Filters on a device or ticker one may not read just match "
    "nothing.",
)
async def list_alerts(
    pool: PoolDep,
    user: CurrentUser,
    query: Annotated[AlertQuery, Depends()],
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[AlertRead]:
    filters = query.filters(user)
    async with pool.acquire() as conn:
        total = await conn.fetchval(
            f"SELECT count(*) FROM alerts a WHERE {filters.where}", *filters.args
        )
        n = len(filters.args)
        rows = await conn.fetch(
            f"""SELECT a.* FROM alerts a WHERE {filters.where}
                ORDER BY a.raised_at DESC, a.id DESC LIMIT ${n + 1} OFFSET ${n + 2}""",
            *filters.args,
            limit,
            offset,
        )
    items = [AlertRead.model_validate(dict(row)) for row in rows]
    return Page[AlertRead](items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/alerts/{id}",
    response_model=AlertRead,
    summary="One alert",
    description="404 `alert_not_found` when absent or not visible to the caller.",
)
async def get_alert(alert_id: AlertId, pool: PoolDep, user: CurrentUser) -> AlertRead:
    async with pool.acquire() as conn:
        return AlertRead.model_validate(dict(await _alert_or_404(conn, user, alert_id)))


@router.get(
    "/alerts/{id}/events",
    response_model=list[AlertEventRead],
    summary="An alert's history",
    description="Every state change (ACTIVE, ACKED, CLEARED), oldest first, with its detail.",
)
async def alert_history(
    alert_id: AlertId, pool: PoolDep, user: CurrentUser
) -> list[AlertEventRead]:
    async with pool.acquire() as conn:
        await _alert_or_404(conn, user, alert_id)
        rows = await conn.fetch(
            "SELECT id, state, at, detail FROM alert_events WHERE alert_id = $1 ORDER BY at, id",
            alert_id,
        )
    return [AlertEventRead.model_validate(dict(row)) for row in rows]


@router.post(
    "/alerts/ack",
    response_model=AckedCount,
    summary="Acknowledge many alerts",
    description="ACTIVE → ACKED for every alert that matches `ids` and the filter (`state`, "
    "`kind`, `device_id`, `ticker`; all given parts must match) and that the caller may see; "
    '→ `{"acked": n}`, the number changed. ACKED and CLEARED alerts, and alerts the caller '
    "may not see, are left as they are (and not counted). An empty body is 422: it never "
    'means "everything". At most 10 000 ids; each change is stored and streamed.',
)
async def ack_alerts(body: AckMany, pool: PoolDep, user: CurrentUser) -> AckedCount:
    filters = Filters(user)
    _narrow(filters, body.state, body.kind, body.device_id, body.ticker)
    if body.ids is not None:
        filters.add("a.id = ANY($?::bigint[])", body.ids)
    async with pool.acquire() as conn, alert_changes.transaction(conn) as changes:
        rows = await changes.acknowledge_where(
            filters.where, *filters.args, by=user.id, detail=f"acknowledged by {user.email}"
        )
    return AckedCount(acked=len(rows))


@router.post(
    "/alerts/{id}/ack",
    response_model=AlertRead,
    summary="Acknowledge an alert",
    description="ACTIVE → ACKED (who and when are kept, the change is streamed); an ACKED "
    "alert stays as it is (200); a CLEARED one is 409 `alert_cleared`; one the caller may "
    "not see is 404 `alert_not_found`.",
)
async def ack_alert(alert_id: AlertId, pool: PoolDep, user: CurrentUser) -> AlertRead:
    async with pool.acquire() as conn, alert_changes.transaction(conn) as changes:
        row = await _alert_or_404(conn, user, alert_id, lock=True)
        if row["state"] == "CLEARED":
            raise Conflict(f"alert {alert_id} is cleared already", code=ErrorCode.ALERT_CLEARED)
        if row["state"] == "ACTIVE":  # locked: it stays ACTIVE until acknowledged here
            row = await changes.acknowledge(alert_id, user.id, f"acknowledged by {user.email}")
    return AlertRead.model_validate(dict(row))


async def _alert_or_404(
    conn: asyncpg.Connection, user: User, alert_id: int, lock: bool = False
) -> Any:
    filters = Filters(user)
    filters.add("a.id = $?", alert_id)
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(
        f"SELECT a.* FROM alerts a WHERE {filters.where}{suffix}", *filters.args
    )
    if row is None:
        raise NotFound(f"no alert {alert_id}", code=ErrorCode.ALERT_NOT_FOUND)
    return row
