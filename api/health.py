"""`GET /health`: database, broker and ingest lag, in one answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.brokercheck import broker_answers
from tickwire.settings import MqttAddress

router = APIRouter()


@router.get("/health", summary="Database, broker and ingest lag", tags=["ops"])
async def health(request: Request) -> JSONResponse:
    """200 when the database and the broker answer, 503 otherwise.

    `ingest.lag_s` is the time since the last batch any ingester committed (null before the
    first); it grows while devices are silent, so read it together with your publish rate.
    """
    pool: asyncpg.Pool = request.state.pool
    address: MqttAddress = request.state.mqtt
    database = await _database(pool)
    ok, detail = await broker_answers(address)
    broker = {"ok": ok, "detail": detail, "address": repr(address)}
    body = {
        "status": "ok" if database["ok"] and ok else "degraded",
        "database": database,
        "broker": broker,
        "ingest": database.pop("ingest", None),
    }
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


async def _database(pool: asyncpg.Pool) -> dict[str, Any]:
    try:
        async with pool.acquire(timeout=2) as conn:
            backend = await conn.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
            row = await conn.fetchrow(
                """SELECT max(last_commit_at) AS last_commit, count(*) AS instances,
                          coalesce(sum(committed_rows), 0)::bigint AS rows,
                          coalesce(sum(dead_lettered), 0)::bigint AS dead
                   FROM ingest_status"""
            )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    last = row["last_commit"]
    lag = (datetime.now(UTC) - last).total_seconds() if last else None
    ingest = {
        "last_commit_at": last.isoformat() if last else None,
        "lag_s": lag,
        "instances": row["instances"],
        "committed_rows": row["rows"],
        "dead_lettered": row["dead"],
    }
    return {"ok": True, "backend": backend, "ingest": ingest}
