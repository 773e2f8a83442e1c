"""The alert engine's SQL on a real database: one open alert per key, the OFFLINE guard."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg

from ingest.alerts import store
from ingest.alerts.catalog import Spec
from ingest.alerts.config import AlertKey, load_open
from tests.alerts_support import add_device, add_user


async def test_open_once_per_key_even_from_a_second_engine(db: asyncpg.Connection) -> None:
    user = await add_user(db)
    await db.execute("INSERT INTO stocks (ticker) VALUES ('KEY')")
    spec = Spec(AlertKey("PRICE_ABOVE", None, "KEY", user), "warning", "watchlist")
    other = Spec(AlertKey("PRICE_ABOVE", None, "KEY", None), "warning", "built-in")
    async with store.transaction(db) as tx:
        first = await tx.open(spec, 101.0, "KEY 101 >= 100")
        assert await tx.open(other, 101.0, "another owner: another alert") is not None
    async with store.transaction(db) as tx:  # an engine that did not know it was open
        second = await tx.open(spec, 102.0, "again")
        assert tx.events == []
    assert first is not None and second == first
    assert set(await load_open(db)) == {spec.key, other.key}
    rows = await db.fetch("SELECT state FROM alert_events WHERE alert_id = $1", first.id)
    assert [r["state"] for r in rows] == ["ACTIVE"]
    async with store.transaction(db) as tx:
        await tx.clear(first, "back to 99")
        await tx.clear(first, "twice: no second event")
    async with store.transaction(db) as tx:  # cleared: the key is free again
        third = await tx.open(spec, 103.0, "once more")
    assert third is not None and third.id != first.id
    events = [
        json.loads(r["data"]) for r in await db.fetch("SELECT data FROM stream_events ORDER BY id")
    ]
    states = [(e["id"], e["state"]) for e in events]
    assert states[0] == (first.id, "ACTIVE") and states[-2:] == [
        (first.id, "CLEARED"),
        (third.id, "ACTIVE"),
    ]


async def test_offline_guard_yields_to_a_newer_message(db: asyncpg.Connection) -> None:
    await add_device(db, "g")
    seen = datetime.now(UTC) - timedelta(seconds=30)
    await db.execute(
        "UPDATE devices SET status = 'ONLINE', last_seen = $1 WHERE device_id = 'g'", seen
    )
    async with store.transaction(db) as tx:
        assert not await tx.set_offline("g", seen - timedelta(microseconds=1))  # newer exists
    async with store.transaction(db) as tx:
        assert await tx.set_offline("g", seen)
        assert [e.kind for e in tx.events] == ["device_status"]
    async with store.transaction(db) as tx:
        assert not await tx.set_offline("g", seen)  # OFFLINE already
    assert await db.fetchval("SELECT status FROM devices WHERE device_id = 'g'") == "OFFLINE"
