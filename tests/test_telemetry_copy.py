"""The writer's own binary COPY encoding of telemetry rows (`ingest.telemetry_copy`) stores
what asyncpg's generic encoding stores, bit for bit, and refuses what it does not take."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from ingest import partials, telemetry_copy
from tickwire.contract import TelemetryRow

_COLUMNS = telemetry_copy.COLUMNS
#: Every column as the server stores it: times as microseconds, values as their 8 bytes.
_STORED = """SELECT time::text, device_id, metric, float8send(value) AS bits
             FROM {} ORDER BY 1, 2, 3, 4"""


def _rows() -> list[TelemetryRow]:
    """Rows as the contract makes them (a reading's metrics share a time object) and beyond:
    other UTC offsets, before 2000 and 1970, the microsecond, the first and last instants
    (asyncpg sends ±infinity for those), non-ASCII text, extreme and signed-zero values, a
    device coming back after another."""
    rng = random.Random(7)
    india = timezone(timedelta(hours=5, minutes=30))
    starts = [
        datetime(2026, 12, 7, 0, 0, 0, 123000, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1969, 7, 20, 20, 17, 40, 1, tzinfo=india),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
    ]
    values = [0.0, -0.0, 1e300, -1e300, 5e-324, 21.5, -3.25, 1.7976931348623157e308]
    rows: list[TelemetryRow] = []
    for device in ("d-1", "logger-0002", "d-1", "capteur-é"):
        for start in starts:
            for step in range(3):
                offset = timedelta(milliseconds=rng.randrange(1, 10**6)) * step
                at = start + offset if start.year < 5000 else start - offset
                for metric in ("temperature", "humidity", "température"):
                    rows.append((at, device, metric, rng.choice(values)))
    return rows


async def _stored(db: asyncpg.Connection, table: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await db.fetch(_STORED.format(table))]


async def _tables(db: asyncpg.Connection) -> None:
    for name in ("mine", "theirs"):
        await db.execute(f"CREATE TEMP TABLE {name} (LIKE telemetry)")


async def test_encoded_rows_are_stored_as_asyncpg_stores_them(db: asyncpg.Connection) -> None:
    rows = _rows()
    await _tables(db)
    await db.copy_to_table(
        "mine", source=telemetry_copy.encode(rows), columns=_COLUMNS, format="binary"
    )
    await db.copy_records_to_table("theirs", records=rows, columns=_COLUMNS)
    mine, theirs = await _stored(db, "mine"), await _stored(db, "theirs")
    assert len(mine) == len(rows) and mine == theirs
    assert await db.fetchval("SELECT count(*) FROM mine WHERE NOT isfinite(time)") > 0
    # Read back, the finite ones are the rows themselves.
    got = await db.fetch("SELECT time, device_id, metric, value FROM mine WHERE isfinite(time)")
    edges = (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC))
    assert sorted(map(tuple, got)) == sorted(row for row in rows if row[0] not in edges)


async def test_a_device_back_with_a_new_metric_is_encoded_whole(db: asyncpg.Connection) -> None:
    """A device's bytes are kept per batch: one coming back after another with a metric it
    had not sent yet still gets its own id in that row."""
    at = datetime(2026, 12, 7, tzinfo=UTC)
    rows: list[TelemetryRow] = [
        (at, "d-1", "temperature", 1.0),
        (at, "d-2", "temperature", 2.0),
        (at, "d-1", "humidity", 3.0),
        (at, "d-2", "humidity", 4.0),
        (at, "d-1", "temperature", 5.0),
    ]
    await _tables(db)
    await db.copy_to_table(
        "mine", source=telemetry_copy.encode(rows), columns=_COLUMNS, format="binary"
    )
    await db.copy_records_to_table("theirs", records=rows, columns=_COLUMNS)
    assert await _stored(db, "mine") == await _stored(db, "theirs")
    got = await db.fetch("SELECT device_id, metric, value FROM mine ORDER BY value")
    assert [tuple(r) for r in got] == [row[1:] for row in rows]


async def test_no_rows_is_an_empty_copy(db: asyncpg.Connection) -> None:
    await _tables(db)
    await db.copy_to_table(
        "mine", source=telemetry_copy.encode([]), columns=_COLUMNS, format="binary"
    )
    assert await db.fetchval("SELECT count(*) FROM mine") == 0


@pytest.mark.parametrize(
    "row",
    [
        (datetime(2026, 1, 1), "d", "m", 1.0),  # naive: asyncpg takes it as local time
        (datetime(2026, 1, 1, tzinfo=UTC), "d", "m", None),
        (datetime(2026, 1, 1, tzinfo=UTC), "d", "m", "1.0"),
        (datetime(2026, 1, 1, tzinfo=UTC), b"d", "m", 1.0),
        (datetime(2026, 1, 1, tzinfo=UTC), "d", "\udc80", 1.0),  # no UTF-8 for a surrogate
        ("2026-01-01", "d", "m", 1.0),
    ],
)
def test_rows_outside_the_contract_are_left_to_asyncpg(row: Any) -> None:
    good: TelemetryRow = (datetime(2026, 1, 1, tzinfo=UTC), "d", "m", 1.0)
    with pytest.raises(telemetry_copy.Unencodable):
        telemetry_copy.encode([good, row])


def _series_rows() -> list[TelemetryRow]:
    """Readings of a few series, several to a minute and in no order, on both sides of
    2000 and 1970 (the bucket's microseconds are negative there), in other UTC offsets."""
    rng = random.Random(11)
    india = timezone(timedelta(hours=5, minutes=30))
    starts = [
        datetime(2026, 12, 7, 2, 59, 30, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 58, 59, 999999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 1, tzinfo=india),
    ]
    rows: list[TelemetryRow] = []
    for start in starts:
        for device in ("d-1", "capteur-é"):
            for offset_ms in rng.sample(range(0, 150_000, 7), 40):
                at = start + timedelta(milliseconds=offset_ms, microseconds=rng.randrange(1000))
                if rng.random() < 0.3:
                    at = at.astimezone(india)
                metric = rng.choice(["temperature", "température"])
                rows.append((at, device, metric, rng.choice([rng.uniform(-50, 50), -0.0, 1e300])))
    return rows


async def test_encoded_partials_are_stored_as_asyncpg_stores_them(
    db: asyncpg.Connection,
) -> None:
    """A big fleet's partials go to `rollup_delta_telemetry` encoded by `partials.encode`:
    stored as asyncpg's generic encoding of the same partials stores them, bit for bit."""
    found = partials.parts(_series_rows())
    assert found is not None and len(found) > 20
    assert any(part[5] > 1 for part in found)  # some partials fold several readings
    for name in ("mine", "theirs"):
        await db.execute(f"CREATE TEMP TABLE {name} (LIKE rollup_delta_telemetry)")
    columns = partials.COLUMNS
    await db.copy_to_table("mine", source=partials.encode(found), columns=columns, format="binary")
    records = [part[: len(columns)] for part in found]
    await db.copy_records_to_table("theirs", records=records, columns=columns)
    stored = """SELECT bucket::text, device_id, metric, float8send(min), float8send(max), count,
                       float8send(sum), float8send(last), last_time::text
                FROM {} ORDER BY 1, 2, 3, 9"""
    mine = [tuple(r) for r in await db.fetch(stored.format("mine"))]
    theirs = [tuple(r) for r in await db.fetch(stored.format("theirs"))]
    assert len(mine) == len(found) and mine == theirs


@pytest.mark.parametrize(
    "row",
    [
        (datetime.min.replace(tzinfo=UTC), "d", "m", 1.0),  # asyncpg sends it as -infinity
        (datetime(2026, 1, 1), "d", "m", 1.0),  # naive
        (datetime(2026, 1, 1, tzinfo=UTC), b"d", "m", 1.0),
        (datetime(2026, 1, 1, tzinfo=UTC), "d", "\udc80", 1.0),  # no UTF-8 for a surrogate
    ],
)
def test_partials_outside_the_encoding_are_left_to_asyncpg(row: Any) -> None:
    good: TelemetryRow = (datetime(2026, 1, 1, tzinfo=UTC), "g", "m", 1.0)
    found = partials.parts([good, row])
    assert found is not None
    with pytest.raises(telemetry_copy.Unencodable):
        partials.encode(found)
