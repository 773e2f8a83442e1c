"""The writer's big JSON values (the alert feed's entry, the journal's events) are compressed
with lz4 where the server has it (a fifth of pglz's CPU), with pglz where it has not."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from ingest.batch import Batch
from ingest.settings import IngestSettings
from ingest.stats import Stats
from ingest.subscriber import Received
from ingest.writer import Writer


async def _has_lz4(db: asyncpg.Connection) -> bool:
    try:
        async with db.transaction():
            await db.execute("SET LOCAL default_toast_compression = lz4")
    except asyncpg.InvalidParameterValueError:
        return False
    return True


async def test_the_feed_and_journal_json_is_lz4_where_the_server_has_it(
    db: asyncpg.Connection,
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    batch = Batch()
    limits = IngestSettings().limits()
    for device in ("toast-1", "toast-2"):
        readings = [
            {"ts": int((start + timedelta(seconds=s)).timestamp() * 1000), "t": s / 7, "h": s}
            for s in range(300)
        ]
        payload = json.dumps({"readings": readings}).encode()
        batch.add(Received(f"devices/{device}/telemetry", payload, 1, 1, 1, time.time()), limits)
    backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    writer = Writer(db, backend, auto_register=True)
    await writer.prepare()
    outcome = await writer.write(batch, Stats(), "test")
    assert outcome.inserted == 1200 and outcome.feed_id > 0
    want = "lz4" if await _has_lz4(db) else "pglz"
    feed = await db.fetchval(
        "SELECT pg_column_compression(data) FROM alert_feed WHERE id = $1", outcome.feed_id
    )
    events = await db.fetch(
        "SELECT DISTINCT pg_column_compression(data) AS c FROM stream_events"
        " WHERE kind = 'telemetry' AND subject LIKE 'toast-%'"
    )
    assert feed == want
    assert [row["c"] for row in events] == [want]
