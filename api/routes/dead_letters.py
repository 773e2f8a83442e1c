"""/api/admin/dead-letters: what the ingester could not accept, and replaying it after a fix.

A replay is done by the ingester, on the path of live messages (`ingest/replay.py`): this
route marks the request and notifies it, then waits a little for the outcome.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated, Any, Final

import asyncpg
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import StringConstraints

from api.audit import AuditAction, Entry, record_request
from api.deps import AdminUser, Limit, Offset, PoolDep
from api.error_codes import ErrorCode
from api.errors import Conflict, NotFound
from api.history.timerange import parse_instant
from api.pagination import Page
from api.schemas.dead_letters import PREVIEW_BYTES, DeadLetterRead, ReplayResult
from api.settings import ApiSettings
from tickwire.journal import REPLAY_CHANNEL

router = APIRouter()

DeadLetterId = Annotated[int, Path(alias="id", ge=1, le=2**63 - 1, description="its id")]
Reason = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")]
Topic = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^\x00]*$")]
_INSTANT = "ISO-8601 (naive means UTC) or epoch milliseconds"
_POLL_S: Final = 0.1
_COLUMNS: Final = f"""id, received_at, topic, reason, detail,
    substring(payload FROM 1 FOR {PREVIEW_BYTES}) AS preview,
    coalesce(payload_size, length(payload)) AS payload_size, length(payload) AS stored_bytes,
    replay_requested_at, replayed_at, replay_outcome, replay_rows, replay_duplicates,
    replay_detail"""


@router.get(
    "/admin/dead-letters",
    response_model=Page[DeadLetterRead],
    summary="List dead letters (admin)",
    description="Newest first. `since` / `until` bound `received_at`. Non-admins: 403.",
)
async def list_dead_letters(
    pool: PoolDep,
    _admin: AdminUser,
    limit: Limit = 100,
    offset: Offset = 0,
    reason: Annotated[Reason | None, Query(description="only this reason")] = None,
    topic: Annotated[Topic | None, Query(description="only this topic (exact)")] = None,
    since: Annotated[str | None, Query(description=f"received at or after, {_INSTANT}")] = None,
    until: Annotated[str | None, Query(description=f"received before, {_INSTANT}")] = None,
) -> Page[DeadLetterRead]:
    clauses: list[str] = []
    args: list[Any] = []
    for clause, value in (
        ("reason = $?", reason),
        ("topic = $?", topic),
        ("received_at >= $?", parse_instant(since, "since") if since else None),
        ("received_at < $?", parse_instant(until, "until") if until else None),
    ):
        if value is not None:
            args.append(value)
            clauses.append(clause.replace("$?", f"${len(args)}"))
    where = " AND ".join(clauses) or "true"
    n = len(args)
    async with pool.acquire() as conn:
        total = await conn.fetchval(f"SELECT count(*) FROM dead_letters WHERE {where}", *args)
        rows = await conn.fetch(
            f"""SELECT {_COLUMNS} FROM dead_letters WHERE {where}
                ORDER BY received_at DESC, id DESC LIMIT ${n + 1} OFFSET ${n + 2}""",
            *args,
            limit,
            offset,
        )
    items = [_read(row) for row in rows]
    return Page[DeadLetterRead](items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/admin/dead-letters/{id}/replay",
    response_model=ReplayResult,
    summary="Replay a dead letter (admin)",
    description=(
        "Re-ingests the message after a fix, exactly as a live one (contract, identity, "
        "exactly-once keys, rollups, alerts, stream): its rows land once however often it is "
        "replayed. 200 with `ingested` or `rejected` (still refused: `reason` and `detail` say "
        "why now); 202 `pending` when the ingester has not done it within a few seconds (it "
        "will when it runs). Unknown id → 404 `dead_letter_not_found`; only a prefix stored "
        "(oversized) → 409 `payload_truncated`. Non-admins: 403."
    ),
    responses={202: {"model": ReplayResult, "description": "accepted, not replayed yet"}},
)
async def replay_dead_letter(
    dead_letter_id: DeadLetterId,
    pool: PoolDep,
    admin: AdminUser,
    request: Request,
    response: Response,
) -> ReplayResult:
    async with pool.acquire() as conn:
        row = await _fetch(conn, dead_letter_id)
        if row["stored_bytes"] < row["payload_size"]:
            raise Conflict(
                f"dead letter {dead_letter_id} kept only {row['stored_bytes']} of its "
                f"{row['payload_size']} bytes",
                code=ErrorCode.PAYLOAD_TRUNCATED,
            )
        requested: datetime = await conn.fetchval(
            """UPDATE dead_letters SET replay_requested_at = clock_timestamp()
               WHERE id = $1 RETURNING replay_requested_at""",
            dead_letter_id,
        )
        await conn.execute("SELECT pg_notify($1, $2)", REPLAY_CHANNEL, str(dead_letter_id))
    entry = Entry(
        AuditAction.DEAD_LETTER_REPLAYED,
        actor=admin,
        subject=str(dead_letter_id),
        details={"topic": row["topic"][:200], "reason": row["reason"]},
    )
    await record_request(request, entry)
    settings: ApiSettings = request.state.settings
    deadline = time.monotonic() + settings.dead_letter_replay_wait_s
    while True:
        async with pool.acquire() as conn:
            row = await _fetch(conn, dead_letter_id)
        settled = row["replayed_at"] is not None and row["replayed_at"] >= requested
        if settled and row["replay_requested_at"] is None:
            return ReplayResult(outcome=row["replay_outcome"], dead_letter=_read(row))
        if time.monotonic() >= deadline:
            response.status_code = 202
            return ReplayResult(outcome="pending", dead_letter=_read(row))
        await asyncio.sleep(_POLL_S)


async def _fetch(conn: asyncpg.Connection, dead_letter_id: int) -> Any:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM dead_letters WHERE id = $1", dead_letter_id)
    if row is None:
        raise NotFound(f"no dead letter {dead_letter_id}", code=ErrorCode.DEAD_LETTER_NOT_FOUND)
    return row


def _read(row: Any) -> DeadLetterRead:
    values = dict(row)
    values["payload"] = bytes(values.pop("preview")).decode("utf-8", errors="replace")
    values["truncated"] = values["stored_bytes"] < values["payload_size"]
    return DeadLetterRead.model_validate(values)
