"""`GET /health`: database, broker and ingest lag, in one answer, within a second.

Both checks run at once, each given `BUDGET_S`; one that has not answered by then is reported
as a timeout (a stalled database, a broker that accepts but never answers) and the answer goes
out anyway. A database check still running is left to finish in the background, bounded by
the pool's own timeouts (api/db.py).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tickwire.mqtt import probe
from tickwire.settings import MqttAddress

router = APIRouter()

#: How long each check may take: the answer is out within a second whatever they do.
BUDGET_S = 0.8
_lingering: set[asyncio.Task[Any]] = set()


@router.get("/health", summary="Database, broker and ingest lag", tags=["ops"])
async def health(request: Request) -> JSONResponse:
    """200 when the database and the broker answer, 503 otherwise (within a second: a check
    that has not answered in 0.8 s reads as a timeout).

    `ingest.lag_s` is the time since the last batch any ingester committed (null before the
    first); it grows while devices are silent, so read it together with your publish rate.
    """
    pool: asyncpg.Pool = request.state.pool
    address: MqttAddress = request.state.mqtt
    database_check = asyncio.create_task(_database(pool))
    broker_check = asyncio.create_task(probe(address, BUDGET_S))
    await asyncio.wait([database_check, broker_check], timeout=BUDGET_S + 0.05)
    if database_check.done():
        database = database_check.result()
    else:
        _lingering.add(database_check)
        database_check.add_done_callback(_lingering.discard)
        database = {"ok": False, "detail": f"timeout: no answer within {BUDGET_S} s"}
    ok, detail = broker_check.result() if broker_check.done() else (False, "timeout")
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
        async with asyncio.timeout(BUDGET_S), pool.acquire(timeout=BUDGET_S) as conn:
            backend = await conn.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
            row = await conn.fetchrow(
                """SELECT max(last_commit_at) AS last_commit, count(*) AS instances,
                          coalesce(sum(committed_rows), 0)::bigint AS rows,
                          coalesce(sum(dead_lettered), 0)::bigint AS dead
                   FROM ingest_status"""
            )
    except TimeoutError:
        return {"ok": False, "detail": f"timeout: no answer within {BUDGET_S} s"}
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
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
