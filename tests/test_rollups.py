"""Rollups are never lost or wrong (issue 12), on both backends: huge readings, ticks of
several sources at one instant, late rows whose refresh fails, and the pending windows that
make answers exact meanwhile. TimescaleDB-only checks skip on plain PostgreSQL.

The late-data read-after-commit check is tests/test_ingest.py's
`test_rollups_equal_raw_recomputation_including_late_data`; the upgrade from revision 0003,
tests/test_upgrade.py.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from devstack.broker import Mosquitto
from ingest.writer import Writer
from tests.api_support import Api, samples
from tests.ingest_support import RunningIngester, ingest_settings, start_ingester
from tests.oracle import all_mismatches, answer_mismatches, rollups_settled
from tests.support import Message, publish, wait_until
from tickwire.contract import MAX_MAGNITUDE, PriceRow

HUGE = MAX_MAGNITUDE  # accepted: 1e300
BEYOND = 1.7976931348623157e308  # the largest float8: refused (out_of_range)


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


async def backend(db: asyncpg.Connection) -> str:
    return str(await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'"))


async def backfill_writer(db: asyncpg.Connection) -> Writer:
    writer = Writer(db, await backend(db), auto_register=True)
    await writer.prepare()
    return writer


async def stored(db: asyncpg.Connection) -> int:
    return int(
        await db.fetchval("SELECT (SELECT count(*) FROM prices) + (SELECT count(*) FROM telemetry)")
    )


async def test_huge_readings_leave_every_rollup_level_exact(
    db: asyncpg.Connection, broker: Mosquitto, ingester: RunningIngester
) -> None:
    """A reading of 1e300 beside normal ones, live and late: float8's avg overflowed past
    ~1e154 (the refresh of that window failed, for every device, and the writer dead-lettered
    committed rows); its largest value is refused, since sums of it would overflow."""
    now = datetime.now(UTC).replace(microsecond=0)
    messages: list[Message] = []
    for offset in (timedelta(seconds=20), timedelta(hours=2), timedelta(days=2)):
        at = now - offset
        for k, value in enumerate((HUGE, 20.0, -HUGE, 21.5, HUGE)):
            ts = ms(at + timedelta(seconds=k))
            messages.append(("devices/huge/telemetry", {"ts": ts, "temperature": value}))
            messages.append(("devices/calm/telemetry", {"ts": ts, "temperature": 20.0 + k}))
            price = {"price": 100.0 + k, "volume": HUGE if k % 2 else 1.0, "ts": ts}
            messages.append(("stocks/BIG", price))
    hostile: list[Message] = [
        ("devices/huge/telemetry", {"temperature": BEYOND}),
        ("devices/huge/telemetry", {"temperature": -BEYOND}),
        ("stocks/BIG", {"price": BEYOND}),
        ("stocks/BIG", {"price": 1.0, "volume": BEYOND}),
    ]
    publish(broker.url, messages + hostile)
    await wait_until(f"{len(messages)} raw rows stored", lambda: _at_least(db, len(messages)))
    await rollups_settled(db)

    assert await all_mismatches(db) == []
    assert await answer_mismatches(db, now - timedelta(days=3), now + timedelta(minutes=1)) == []
    reasons = [r[0] for r in await db.fetch("SELECT reason FROM dead_letters ORDER BY id")]
    assert reasons == ["out_of_range"] * len(hostile)
    if await backend(db) == "timescaledb":
        # Every policy job succeeds with the huge readings in its window (run_job raises if
        # one fails), and none has failed in the background either.
        for (job,) in await db.fetch(
            "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name LIKE 'policy_%'"
        ):
            await db.execute(f"CALL run_job({job})")
        errors = await db.fetch(
            "SELECT job_id, err_message FROM timescaledb_information.job_errors"
            " WHERE err_message NOT LIKE 'failed to start job%'"  # no free worker: not ours
        )
        assert [dict(e) for e in errors] == []
        assert await all_mismatches(db) == []


async def _at_least(db: asyncpg.Connection, rows: int) -> bool:
    return await stored(db) >= rows


async def test_ticks_at_one_instant_are_ordered_by_source_at_every_level(
    db: asyncpg.Connection,
) -> None:
    """Open and close of ticks sharing an instant are those of the smallest and the largest
    source, whatever batch brought each (TimescaleDB's first(price, time) picked any tick; the
    plain merge kept the one it saw first)."""
    writer = await backfill_writer(db)
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    opening, closing = day + timedelta(hours=5), day + timedelta(hours=5, minutes=59, seconds=59)
    prices = {"m": 13.0, "z": 26.0, "a": 1.0, "k": 11.0}
    for source, price in prices.items():  # one batch each: the smallest source comes later
        await writer.backfill(
            [(opening, "TIE", price, 1.0, source), (closing, "TIE", price + 100, 1.0, source)], []
        )
    await rollups_settled(db)

    assert await all_mismatches(db) == []
    assert await answer_mismatches(db, day, day + timedelta(days=1)) == []
    for level, first, last in (
        ("1m", opening, closing.replace(second=0)),
        ("1h", opening, opening),
        ("1d", day, day),
    ):
        row = await db.fetchrow(
            f"SELECT (SELECT open FROM prices_{level} WHERE bucket = $1) AS open,"
            f" (SELECT close FROM prices_{level} WHERE bucket = $2) AS close",
            first,
            last,
        )
        assert (row["open"], row["close"]) == (prices["a"], prices["z"] + 100), level


async def test_answers_read_raw_rows_where_a_refresh_is_pending(db: asyncpg.Connection) -> None:
    """A late row the rollups do not have yet (inserted behind the writer's back): answers
    include it while its window is recorded pending, and only then."""
    writer = await backfill_writer(db)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    rows = [(start + timedelta(seconds=7 * k), "lag", "temperature", float(k)) for k in range(500)]
    ticks: list[PriceRow] = [
        (start + timedelta(seconds=7 * k), "LAG", 10.0 + k, 1.0, "") for k in range(500)
    ]
    await writer.backfill(ticks, rows)
    await rollups_settled(db)
    late = start + timedelta(minutes=3, seconds=1, milliseconds=5)
    await db.execute("INSERT INTO telemetry VALUES ($1, 'lag', 'temperature', 999)", late)
    await db.execute("INSERT INTO prices VALUES ($1, 'LAG', 0.5, 2, 'x')", late)
    window = (start, start + timedelta(days=1))
    assert await answer_mismatches(db, *window) != []  # the rollups miss it

    await db.execute(
        "INSERT INTO rollup_pending (relation, window_start, window_end)"
        " VALUES ('telemetry_1m', $1, $2), ('prices_1m', $1, $2)",
        late.replace(second=0, microsecond=0),
        late.replace(second=0, microsecond=0) + timedelta(minutes=1),
    )
    assert await answer_mismatches(db, *window) == []


async def test_a_refresh_that_fails_stays_pending_across_restarts_and_ingest_goes_on(
    db: asyncpg.Connection, broker: Mosquitto, database_url: str, api: Api
) -> None:
    """TimescaleDB: rows the contract never lets in (written by hand) make the refresh of
    their window fail. The batch that needed it is committed, not dead-lettered; ingest goes
    on; the window stays recorded (counted in /metrics), survives a restart of the ingester,
    and is refreshed once the cause is gone."""
    if await backend(db) != "timescaledb":
        pytest.skip("plain PostgreSQL: no refresh (the merger folds what passed the contract)")
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)
    await db.executemany(  # their sum overflows float8
        "INSERT INTO telemetry VALUES ($1, 'poison', 'temperature', $2)",
        [(minute + timedelta(seconds=1), BEYOND), (minute + timedelta(seconds=2), BEYOND)],
    )
    running = await start_ingester(ingest_settings(database_url, broker))
    late = ("devices/ok/telemetry", {"ts": ms(minute + timedelta(seconds=30)), "temperature": 1})
    publish(broker.url, [late])

    async def failed_once() -> bool:
        return bool(await db.fetchval("SELECT max(attempts) FROM rollup_pending") or 0)

    await wait_until("a rollup window failing once", failed_once)
    error = await db.fetchval("SELECT last_error FROM rollup_pending WHERE attempts > 0")
    assert error.startswith("22003")
    live = ("devices/ok/telemetry", {"temperature": 2})
    publish(broker.url, [live])
    await wait_until("4 raw rows stored", lambda: _at_least(db, 4))
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0
    async with api.client() as client:
        found = samples((await client.get("/metrics")).text)
    assert found[("tickwire_rollup_pending_windows", (("relation", "telemetry_1m"),))] >= 1
    assert found[("tickwire_rollup_refresh_failures", (("relation", "telemetry_1m"),))] >= 1
    await running.close()

    await db.execute("DELETE FROM telemetry WHERE device_id = 'poison'")
    running = await start_ingester(ingest_settings(database_url, broker))
    try:
        await rollups_settled(db, timeout=60)  # back-off: a few seconds after the last failure
        assert await all_mismatches(db) == []
    finally:
        await running.close()


async def test_late_rows_reach_compressed_rollups(db: asyncpg.Connection) -> None:
    """TimescaleDB: rows late enough that their raw and rollup chunks are compressed already
    (each level compressed past its refresh window) are folded in all the same."""
    if await backend(db) != "timescaledb":
        pytest.skip("plain PostgreSQL: no compression")
    writer = await backfill_writer(db)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=40)
    rows = [
        (start + timedelta(seconds=61 * k), "cold", "temperature", float(k)) for k in range(300)
    ]
    await writer.backfill([], rows)
    compressed = 0
    for relation in ("telemetry", "telemetry_1m", "telemetry_1h", "telemetry_1d"):
        for (chunk,) in await db.fetch("SELECT c::text FROM show_chunks($1) c", relation):
            # The compression policy's job may get there first: "already compressed" is fine.
            with contextlib.suppress(asyncpg.DuplicateObjectError):
                await db.execute(
                    "SELECT compress_chunk($1::regclass, if_not_compressed => TRUE)", chunk
                )
            compressed += 1
    assert compressed >= 4
    late = [(start + timedelta(seconds=61 * k + 7), "cold", "temp", -float(k)) for k in range(9)]
    await writer.backfill([], late)
    assert await all_mismatches(db) == []
    assert await answer_mismatches(db, start, start + timedelta(days=1)) == []
