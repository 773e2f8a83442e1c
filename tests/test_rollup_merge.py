"""Plain PostgreSQL's deferred rollups (issue 20): batches append 1-minute partials and their
window; answers read raw rows over those windows until the merger folds the partials in, and
then the rollups equal the raw recomputation at every level. Merging is exact whichever way the
batches went (array fast path, plain COPY, dedup of a redelivery) and mixes with batches merged
in their own statement (backfill). The ingester end to end, kill -9 included:
tests/test_crash_batches.py, tests/test_ingest.py."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from ingest.batch import Batch
from ingest.merger import due, merge
from ingest.settings import IngestSettings
from ingest.stats import Stats
from ingest.subscriber import Received
from ingest.writer import FAST_PATH_ROWS, Writer
from tests.oracle import all_mismatches, answer_mismatches

T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
#: The answers compared with raw rows: a day either side of T0.
SPAN = (T0 - timedelta(days=1), T0 + timedelta(days=1))


def batch(devices: int, seconds: range, offset: float = 0.0) -> Batch:
    """Every device reads temperature and humidity at each second of `seconds` after T0;
    one tick of each device's own ticker too."""
    out, limits = Batch(), IngestSettings().limits()
    for device in range(devices):
        for second in seconds:
            ts = int((T0 + timedelta(seconds=second)).timestamp() * 1000)
            body: dict[str, Any] = {"ts": ts, "temperature": device + second / 7 + offset}
            body["humidity"] = -body["temperature"]
            out.add(_message(f"devices/rm-{device}/telemetry", body), limits)
            tick = {"ts": ts, "price": 100 + second + offset, "volume": device + 1}
            out.add(_message(f"stocks/RM{device}", tick), limits)
    return out


def _message(topic: str, body: dict[str, Any]) -> Received:
    return Received(topic, json.dumps(body).encode(), 1, 1, 1, time.time())


async def deferring_writer(db: asyncpg.Connection) -> Writer:
    """A prepared writer whose batches append rollup partials (plain PostgreSQL; the test is
    skipped on TimescaleDB)."""
    backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    if backend != "postgres":
        pytest.skip("TimescaleDB: rollups are continuous aggregates, nothing is appended")
    writer = Writer(db, backend, auto_register=True, defer_rollups=True)
    await writer.prepare()
    return writer


async def pending(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM rollup_pending"))


async def read_raw_until_merged_then_exact(db: asyncpg.Connection) -> None:
    """After three batches that inserted rows within a day of T0: their windows pending and
    answered from raw rows, nothing merged; merged once, nothing pending or appended and every
    level exact; a second merge merges nothing."""
    assert await pending(db) == 6  # prices and telemetry of the 3 batches that inserted rows
    assert await db.fetchval("SELECT count(*) FROM telemetry_1h") == 0  # not merged yet
    assert await answer_mismatches(db, *SPAN) == []  # raw rows answer over the windows
    assert await all_mismatches(db, settled_only=True) == []

    assert await merge(db) > 0
    assert await pending(db) == 0
    assert await db.fetchval("SELECT count(*) FROM rollup_delta_telemetry") == 0
    assert await db.fetchval("SELECT count(*) FROM rollup_delta_prices") == 0
    assert await all_mismatches(db) == []
    assert await answer_mismatches(db, *SPAN) == []
    assert await merge(db) == 0  # nothing is merged twice


async def test_partials_are_read_raw_until_merged_then_rollups_are_exact(
    db: asyncpg.Connection,
) -> None:
    writer = await deferring_writer(db)
    stats = Stats()
    assert len(batch(1, range(10)).items) * 2 < FAST_PATH_ROWS  # the array fast path
    await writer.write(batch(1, range(10)), stats, "test")
    big = batch(5, range(50, 50 + FAST_PATH_ROWS // 5))  # plain COPY: every key new
    await writer.write(big, stats, "test")
    await writer.write(big, stats, "test")  # a redelivery: dedup, nothing new
    # Old and new keys of the same buckets, some in the next hour: the dedup path.
    await writer.write(batch(5, range(3590, 3700), offset=0.5), stats, "test")

    await read_raw_until_merged_then_exact(db)

    # Merged in the batch's statement (backfill) and appended, into the same buckets.
    await writer.backfill([(T0 + timedelta(seconds=1.5), "RM0", 1e6, 1.0, "x")], [])
    await writer.write(batch(2, range(3700, 3800), offset=0.25), stats, "test")
    assert await merge(db) > 0
    assert await all_mismatches(db) == []
    assert await answer_mismatches(db, *SPAN) == []


async def test_a_batch_rolled_back_leaves_no_partial_and_no_window(
    db: asyncpg.Connection,
) -> None:
    writer = await deferring_writer(db)
    tr = db.transaction()
    await tr.start()
    await writer.write(batch(3, range(100)), Stats(), "test")  # a savepoint inside
    await tr.rollback()  # as a crash before COMMIT would
    assert await pending(db) == 0
    assert await db.fetchval("SELECT count(*) FROM rollup_delta_telemetry") == 0
    assert await db.fetchval("SELECT count(*) FROM telemetry") == 0
    await writer.write(batch(3, range(100)), Stats(), "test")  # the redelivery
    assert await merge(db) > 0
    assert await all_mismatches(db) == []


def test_merges_are_due_when_ingest_goes_quiet_or_the_interval_passed() -> None:
    # (batches now, at the last merge, at the last tick, seconds since the merge, interval)
    assert due(7, 3, 7, 1.0, 10.0)  # batches came, none since the last tick: quiet
    assert not due(8, 3, 7, 1.0, 10.0)  # still coming: wait (partials coalesce)
    assert due(80, 3, 79, 10.0, 10.0)  # under load, the interval passed
    assert not due(7, 7, 7, 1.0, 10.0)  # nothing new
    assert due(7, 7, 7, 10.5, 10.0)  # nothing new, but another ingester may have left some
    assert not due(0, -1, -1, 0.0, 10.0) and due(0, -1, 0, 0.5, 10.0)  # at start: one merge
