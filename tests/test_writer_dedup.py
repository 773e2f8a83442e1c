"""The writer's two paths give the same rows: plain COPY of a batch whose keys are all new, and
the dedup path a batch takes when any key is stored already or comes twice (a redelivery).

Each batch is checked against what it must have changed: its new rows only, in the table, in
`Committed` (the alert engine's input), in the stream events and in the rollups."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from ingest.batch import Batch
from ingest.settings import IngestSettings
from ingest.stats import Stats
from ingest.subscriber import Received
from ingest.writer import FAST_PATH_ROWS, Outcome, Writer
from tests.oracle import all_mismatches

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

Reading = tuple[str, int, float]
"""(device, second after T0, temperature)."""


def message(topic: str, body: dict[str, Any]) -> Received:
    return Received(topic, json.dumps(body).encode(), 1, 1, 1, time.time())


def batch_of(readings: list[Reading], ticks: list[tuple[int, float]]) -> Batch:
    batch = Batch()
    limits = IngestSettings().limits()
    for device, second, value in readings:
        ts = int((T0 + timedelta(seconds=second)).timestamp() * 1000)
        body = {"ts": ts, "temperature": value, "humidity": value / 2}
        batch.add(message(f"devices/{device}/telemetry", body), limits)
    for second, price in ticks:
        ts = int((T0 + timedelta(seconds=second)).timestamp() * 1000)
        batch.add(message("stocks/DDP", {"ts": ts, "price": price, "volume": 1}), limits)
    return batch


async def write(db: asyncpg.Connection, batch: Batch) -> Outcome:
    backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    writer = Writer(db, backend, auto_register=True)
    await writer.prepare()
    return await writer.write(batch, Stats(), "test")


def telemetry_keys(readings: list[Reading]) -> set[tuple[datetime, str, str, float]]:
    rows = set()
    for device, second, value in readings:
        at = T0 + timedelta(seconds=second)
        rows |= {(at, device, "temperature", value), (at, device, "humidity", value / 2)}
    return rows


async def streamed_telemetry(db: asyncpg.Connection, after: int) -> set[tuple[str, str]]:
    """(device, time) of every reading streamed after event `after`."""
    points = set()
    for (data,) in await db.fetch(
        "SELECT data FROM stream_events WHERE id > $1 AND kind = 'telemetry'", after
    ):
        event = orjson.loads(data)
        points |= {(event["device_id"], r["time"]) for r in event["readings"]}
    return points


async def last_event(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT last_id FROM stream_state"))


async def test_new_and_redelivered_batches_store_stream_and_roll_up_each_row_once(
    db: asyncpg.Connection,
) -> None:
    seconds = FAST_PATH_ROWS // 6 + 1  # 3 devices × 2 metrics: enough rows for plain COPY
    first: list[Reading] = [
        (f"wd-{d}", s, 20.0 + d + s / 10) for d in range(3) for s in range(seconds)
    ]
    events = await last_event(db)
    outcome = await write(db, batch_of(first, [(0, 10.0), (1, 11.0)]))  # all new: plain COPY
    assert (outcome.inserted, outcome.duplicates) == (len(first) * 2 + 2, 0)
    assert set(outcome.committed.telemetry) == telemetry_keys(first)
    assert len(outcome.committed.telemetry) == len(first) * 2
    assert sorted(p[2] for p in outcome.committed.prices) == [10.0, 11.0]
    assert len(await streamed_telemetry(db, events)) == len(first)

    # The same batch again (a redelivery): nothing new anywhere.
    events = await last_event(db)
    outcome = await write(db, batch_of(first, [(0, 10.0), (1, 11.0)]))
    assert (outcome.inserted, outcome.duplicates) == (0, len(first) * 2 + 2)
    assert (outcome.committed.telemetry, outcome.committed.prices) == ([], [])
    assert await streamed_telemetry(db, events) == set()

    # Old and new keys mixed, and one new reading twice in the batch: only the new, once.
    new: list[Reading] = [("wd-0", s, 30.0 + s) for s in range(seconds, seconds + 3)]
    new.append(("wd-9", 0, 1.5))
    mixed = first[: FAST_PATH_ROWS // 2] + new + [new[0]]  # tries plain COPY, then dedups
    events = await last_event(db)
    outcome = await write(db, batch_of(mixed, [(1, 11.0), (2, 12.0), (2, 12.0)]))
    assert outcome.inserted == len(new) * 2 + 1
    assert outcome.duplicates == (len(mixed) - len(new)) * 2 + 2
    assert sorted(outcome.committed.telemetry) == sorted(telemetry_keys(new))
    assert [p[2] for p in outcome.committed.prices] == [12.0]
    streamed = await streamed_telemetry(db, events)
    assert {device for device, _ in streamed} == {"wd-0", "wd-9"} and len(streamed) == len(new)

    stored = await db.fetch("SELECT time, device_id, metric, value FROM telemetry")
    assert {tuple(r) for r in stored} == telemetry_keys(first) | telemetry_keys(new)
    assert len(stored) == len(telemetry_keys(first) | telemetry_keys(new))
    assert await db.fetchval("SELECT count(*) FROM prices") == 3
    assert await all_mismatches(db) == []
