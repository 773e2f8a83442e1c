"""Helpers of the alert tests: messages with timestamps, alert rows, waiting for a state."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import asyncpg

from devstack.broker import Mosquitto
from tests.ingest_support import RunningIngester, ingest_settings, start_ingester
from tests.support import Message, unique, wait_until
from tickwire.contract import stock_topic

Starter = Callable[..., Coroutine[Any, Any, RunningIngester]]


def now_ms(offset_s: float = 0.0) -> int:
    return int((time.time() + offset_s) * 1000)


def reading(device_id: str, ts_ms: int | None = None, **metrics: float) -> Message:
    body: dict[str, Any] = {"ts": ts_ms if ts_ms is not None else now_ms(), **metrics}
    return (f"devices/{device_id}/telemetry", body)


def readings(device_id: str, points: list[dict[str, float]]) -> Message:
    """One store-and-forward message: every reading in one batch, in order."""
    return (f"devices/{device_id}/telemetry", {"deviceId": device_id, "readings": points})


def tick(ticker: str, price: float, ts_ms: int | None = None) -> Message:
    return (stock_topic(ticker), {"price": price, "ts": ts_ms if ts_ms is not None else now_ms()})


async def alerts(db: asyncpg.Connection, subject: str, kind: str | None = None) -> list[Any]:
    rows = await db.fetch(
        "SELECT * FROM alerts WHERE subject = $1 AND ($2::text IS NULL OR kind = $2) ORDER BY id",
        subject,
        kind,
    )
    return list(rows)


async def wait_alert(
    db: asyncpg.Connection, subject: str, kind: str, state: str = "ACTIVE", timeout: float = 15
) -> Any:
    """The newest alert of `kind` on `subject` once it is in `state`."""
    found: list[Any] = []

    async def check() -> bool:
        rows = [r for r in await alerts(db, subject, kind) if r["state"] == state]
        found[:] = rows[-1:]
        return bool(rows)

    await wait_until(f"a {state} {kind} alert on {subject}", check, timeout)
    return found[0]


async def history(db: asyncpg.Connection, alert_id: int) -> list[str]:
    rows = await db.fetch(
        "SELECT state FROM alert_events WHERE alert_id = $1 ORDER BY id", alert_id
    )
    return [r["state"] for r in rows]


async def streamed_states(db: asyncpg.Connection, alert_id: int) -> list[str]:
    """States of the alert's journal events, in stream order."""
    rows = await db.fetch(
        "SELECT data::jsonb ->> 'state' AS state FROM stream_events "
        "WHERE kind = 'alert' AND (data::jsonb ->> 'id')::bigint = $1 ORDER BY id",
        alert_id,
    )
    return [r["state"] for r in rows]


async def add_user(db: asyncpg.Connection) -> uuid.UUID:
    user_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO users (id, email, hashed_password) VALUES ($1, $2, 'x')",
        user_id,
        f"{unique('u')}@example.com",
    )
    return user_id


async def add_device(
    db: asyncpg.Connection, device_id: str, owner: uuid.UUID | None = None, timeout_s: float = 60
) -> None:
    await db.execute(
        "INSERT INTO devices (device_id, name, owner_id, offline_timeout_s)"
        " VALUES ($1, $1, $2, $3)",
        device_id,
        owner,
        timeout_s,
    )


async def add_rule(db: asyncpg.Connection, owner: uuid.UUID, kind: str, **fields: Any) -> int:
    columns = ["owner_id", "name", "kind", *fields]
    values = [owner, f"{kind.lower()} rule", kind, *fields.values()]
    marks = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    rule_id: int = await db.fetchval(
        f"INSERT INTO alert_rules ({', '.join(columns)}) VALUES ({marks}) RETURNING id", *values
    )
    return rule_id


@contextlib.asynccontextmanager
async def starting(database_url: str, broker: Mosquitto) -> AsyncIterator[Starter]:
    """Start ingesters (one writer: batches commit in publish order); all closed at the end."""
    running: list[RunningIngester] = []

    async def starter(**overrides: Any) -> RunningIngester:
        values: dict[str, Any] = {"ingest_writers": 1, **overrides}
        ingester = await start_ingester(ingest_settings(database_url, broker, **values))
        running.append(ingester)
        return ingester

    try:
        yield starter
    finally:
        for ingester in running:
            if not ingester.task.done():
                await ingester.close()
