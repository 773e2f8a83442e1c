"""The writers' devices statement updates rows in place (HOT): migration 0014 leaves room in
the pages of `devices`, so a fleet's bounded-rate last_seen updates add no index entries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from ingest.writer import _RATE_BOUNDED_ABOVE_S, _SEEN_SQL


async def test_a_fleets_last_seen_updates_are_hot(db: asyncpg.Connection) -> None:
    prefix = f"hot-{uuid.uuid4().hex[:8]}"
    devices = [f"{prefix}-{i:04d}" for i in range(400)]
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    tx = db.transaction()
    await tx.start()
    try:
        # Registered in one statement, as a batch of first contacts would; ONLINE long ago.
        await db.execute(
            """INSERT INTO devices (device_id, name, status, last_seen)
               SELECT id, id, 'ONLINE', $2 FROM unnest($1::text[]) AS id""",
            devices,
            long_ago,
        )
        now = [datetime.now(UTC)] * len(devices)
        written = await db.fetch(_SEEN_SQL, devices, now, 5.0, _RATE_BOUNDED_ABOVE_S)
        assert len(written) == len(devices)  # every one was due: last_seen moved on
        updated, hot = await db.fetchrow(
            """SELECT pg_stat_get_xact_tuples_updated('devices'::regclass),
                      pg_stat_get_xact_tuples_hot_updated('devices'::regclass)"""
        )
        assert updated == len(devices)
        assert hot >= 0.9 * updated, f"{hot} of {updated} updates were HOT"
    finally:
        await tx.rollback()
