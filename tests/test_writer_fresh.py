"""Devices a writer wrote ONLINE and fresh stay out of the devices statement (`ingest.fresh`)
until their row is due again, or until someone else changes it (migration 0013's
notifications): status set OFFLINE, timeout changed, device deleted."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import asyncpg

from ingest.batch import Batch
from ingest.settings import IngestSettings
from ingest.stats import Stats
from ingest.subscriber import Received
from ingest.writer import Outcome, Writer
from tests.support import wait_until


def batch_at(received: float, *devices: str) -> Batch:
    batch = Batch()
    limits = IngestSettings().limits()
    for device in devices:
        body = json.dumps({"temperature": 20.0}).encode()
        batch.add(Received(f"devices/{device}/telemetry", body, 1, 1, 1, received), limits)
    return batch


async def written(writer: Writer, received: float, *devices: str) -> Outcome:
    return await writer.write(batch_at(received, *devices), Stats(), "test")


async def last_seen(db: asyncpg.Connection, device: str) -> float:
    return float(
        await db.fetchval(
            "SELECT extract(epoch FROM last_seen) FROM devices WHERE device_id = $1", device
        )
    )


async def forgotten(writer: Writer, device: str, at: float) -> None:
    async def check() -> bool:
        return device in writer.fresh.due({device: _utc(at)})

    await wait_until(f"{device} forgotten by the writer", check, timeout=10)


def _utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


async def test_fresh_devices_skip_the_statement_until_due_or_changed(
    db: asyncpg.Connection, database_url: str
) -> None:
    backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    conn = await asyncpg.connect(database_url)  # the writer's own (it listens on it)
    try:
        writer = Writer(conn, backend, auto_register=True, seen_interval_s=5.0)
        await writer.prepare()
        t0 = time.time()
        first = await written(writer, t0, "fr-1", "fr-2")
        assert first.committed.online == {"fr-1": "UNKNOWN", "fr-2": "UNKNOWN"}
        assert {d for d, _ in first.written} == {"fr-1", "fr-2"}
        assert len(writer.fresh) == 2  # default timeout 10 s: fresh for min(5, 10/4) s

        # Within 2.5 s: left out of the statement, the row keeps its first last_seen, but
        # the alert engine still gets the exact receive time.
        later = await written(writer, t0 + 2.0, "fr-1", "fr-2")
        assert later.written == [] and later.committed.online == {}
        assert set(later.committed.seen) == {"fr-1", "fr-2"}
        assert abs(await last_seen(db, "fr-1") - t0) < 0.01
        # Past it: written again (still ONLINE, so no event).
        due = await written(writer, t0 + 2.6, "fr-1")
        assert [d for d, _ in due.written] == ["fr-1"] and due.committed.online == {}
        assert abs(await last_seen(db, "fr-1") - (t0 + 2.6)) < 0.01

        # Someone sets it OFFLINE (the alert engine): its next message turns it ONLINE again,
        # with its event, although the writer had it fresh.
        await db.execute("UPDATE devices SET status = 'OFFLINE' WHERE device_id = 'fr-1'")
        await forgotten(writer, "fr-1", t0 + 2.7)
        back = await written(writer, t0 + 2.7, "fr-1")
        assert back.committed.online == {"fr-1": "OFFLINE"}
        assert [e.kind for e in back.events if e.kind == "device_status"] == ["device_status"]

        # A timeout of 2 s (≤ 4/3 of the engine's caught-up bound): every message is written.
        await db.execute("UPDATE devices SET offline_timeout_s = 2 WHERE device_id = 'fr-2'")
        await forgotten(writer, "fr-2", t0 + 2.1)
        for step in (3.0, 3.1, 3.2):
            outcome = await written(writer, t0 + step, "fr-2")
            assert [d for d, _ in outcome.written] == ["fr-2"]
        assert abs(await last_seen(db, "fr-2") - (t0 + 3.2)) < 0.01

        # Deleted and created again (through psql: not retired): a new device, UNKNOWN,
        # made ONLINE by its next message.
        await written(writer, t0 + 4.0, "fr-1")
        await db.execute("DELETE FROM devices WHERE device_id = 'fr-1'")
        await db.execute("INSERT INTO devices (device_id, name) VALUES ('fr-1', 'again')")
        await forgotten(writer, "fr-1", t0 + 4.1)
        again = await written(writer, t0 + 4.1, "fr-1")
        assert again.committed.online == {"fr-1": "UNKNOWN"}
    finally:
        await conn.close()


async def test_a_rolled_back_batch_leaves_nothing_fresh(
    db: asyncpg.Connection, database_url: str
) -> None:
    """Fresh means committed: a batch whose transaction fails records nothing."""
    backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    conn = await asyncpg.connect(database_url)
    try:
        writer = Writer(conn, backend, auto_register=True, seen_interval_s=5.0)
        await writer.prepare()
        # A lock held elsewhere on the ingest_status row + a short lock timeout: the batch
        # fails after its devices statement ran.
        await conn.execute("SET lock_timeout = '200ms'")
        async with db.transaction():
            await db.execute(
                "INSERT INTO ingest_status (instance, started_at) VALUES ('test', now())"
                " ON CONFLICT (instance) DO UPDATE SET last_commit_at = now()"
            )
            try:
                await written(writer, time.time(), "rb-1")
                raise AssertionError("the batch should have failed")
            except asyncpg.LockNotAvailableError:
                pass
        assert len(writer.fresh) == 0
        assert await db.fetchval("SELECT count(*) FROM devices WHERE device_id = 'rb-1'") == 0
    finally:
        await conn.close()
