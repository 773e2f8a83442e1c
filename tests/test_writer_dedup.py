"""The writer's two paths give the same rows: plain COPY of a batch whose keys are all new, and
the dedup path a batch takes when any key is stored already or comes twice (a redelivery).

Each batch is checked against what it must have changed: its new rows only, in the table, in
`Committed` (the alert engine's input), in the stream events and in the rollups."""

from __future__ import annotations

import json
import math
import random
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import orjson

from ingest import partials
from ingest.batch import Batch
from ingest.settings import IngestSettings
from ingest.stats import Stats
from ingest.subscriber import Received
from ingest.writer import FAST_PATH_ROWS, Outcome, Writer
from tests.oracle import all_mismatches
from tickwire.contract import TelemetryRow
from tickwire.timegrid import ORIGIN_SQL

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


async def test_a_reading_twice_in_a_new_batch_is_stored_once_the_first_received(
    db: asyncpg.Connection,
) -> None:
    """A key twice in one batch (a QoS 1 resend arriving beside the original, or a device
    sending two values at one instant): the batch stays on the plain COPY path, the first
    received is stored, streamed and rolled up, the second counted a duplicate."""
    seconds = FAST_PATH_ROWS // 4 + 1  # 2 devices × 2 metrics: enough rows for plain COPY
    readings: list[Reading] = [
        (f"wt-{d}", s, 10.0 + d + s) for d in range(2) for s in range(seconds)
    ]
    resent, other = ("wt-0", 5, 15.0), ("wt-1", 7, -99.0)  # the same keys as two readings above
    events = await last_event(db)
    outcome = await write(db, batch_of([*readings, resent, other], []))
    assert (outcome.inserted, outcome.duplicates) == (len(readings) * 2, 4)
    assert sorted(outcome.committed.telemetry) == sorted(telemetry_keys(readings))
    value = await db.fetchval(
        "SELECT value FROM telemetry WHERE device_id = 'wt-1' AND metric = 'temperature'"
        " AND time = $1",
        T0 + timedelta(seconds=7),
    )
    assert value == 18.0  # the first received, not -99
    assert len(await streamed_telemetry(db, events)) == len(readings)
    stored = await db.fetch("SELECT time, device_id, metric, value FROM telemetry")
    assert {tuple(r) for r in stored} == telemetry_keys(readings)
    assert len(stored) == len(readings) * 2
    assert await all_mismatches(db) == []


def _part_rows() -> list[TelemetryRow]:
    """Rows over a few minutes in no order, on and beside minute boundaries, in UTC and other
    offsets, before the grid's origin, at the contract's largest magnitudes."""
    rng = random.Random(20)
    india = timezone(timedelta(hours=5, minutes=30))
    starts = [T0.replace(second=0), datetime(1999, 12, 31, 23, 58, 59, tzinfo=UTC)]
    rows: list[TelemetryRow] = []
    for start in starts:
        for device in ("p-0", "p-1"):
            for offset_ms in rng.sample(range(0, 200_000, 250), 300):
                at = start + timedelta(milliseconds=offset_ms)
                if rng.random() < 0.3:
                    at = at.astimezone(india)
                value = rng.choice([rng.uniform(-50, 50), 1e300, -1e300, 0.0])
                rows.append((at, device, rng.choice(["temperature", "humidity"]), value))
    return rows


async def test_partials_computed_in_python_are_those_sql_computes(
    db: asyncpg.Connection,
) -> None:
    """The direct COPY path's 1-minute partials (`ingest.partials`) against SQL's
    aggregation of the same rows over the same grid."""
    rows = _part_rows()
    columns = partials.telemetry(rows)
    assert columns is not None
    got = sorted(zip(*columns, strict=True))
    want = await db.fetch(
        f"""SELECT date_bin(INTERVAL '1 minute', time, {ORIGIN_SQL}) AS bucket, device_id,
                   metric, min(value), max(value), count(*), sum(value),
                   (array_agg(value ORDER BY time DESC))[1] AS last, max(time) AS last_time
            FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::float8[])
                AS r(time, device_id, metric, value)
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
        *[list(column) for column in zip(*rows, strict=True)],
    )
    assert len(got) == len(want) > 10
    for mine, theirs in zip(got, want, strict=True):
        assert mine[:6] == tuple(theirs)[:6] and mine[7:] == tuple(theirs)[7:]
        assert math.isclose(mine[6], theirs["sum"], rel_tol=1e-9, abs_tol=1e-9 * 1e300)


def test_partials_whose_sum_overflows_are_left_to_sql() -> None:
    """float8 sums that overflow are refused by PostgreSQL (22003), infinite in Python: the
    writer then takes the SQL path, as before."""
    minute = T0.replace(second=0)  # both rows in one minute's partial, whatever T0's second
    rows: list[TelemetryRow] = [
        (minute, "big", "x", 1.7e308),
        (minute + timedelta(seconds=1), "big", "x", 1.7e308),
    ]
    assert partials.telemetry(rows) is None
    assert partials.telemetry(rows[:1]) is not None
