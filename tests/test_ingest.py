"""The ingester against a real Mosquitto and a real PostgreSQL (or TimescaleDB)."""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from devstack.broker import Mosquitto
from ingest.batch import OVERSIZED_KEPT_BYTES
from sql.migrate import current, head, upgrade
from tests.ingest_support import RunningIngester, ingest_settings, start_ingester
from tests.oracle import all_mismatches, answer_mismatches, rollups_settled
from tests.support import Message, publish, wait_until


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


async def wait_received(db: asyncpg.Connection, count: int, timeout: float = 30) -> None:
    async def done() -> bool:
        received = await db.fetchval("SELECT coalesce(sum(received), 0) FROM ingest_status")
        return bool(received >= count)

    await wait_until(f"{count} messages received by the ingester", done, timeout)


async def wait_committed(db: asyncpg.Connection, rows: int, timeout: float = 30) -> None:
    """Until `rows` raw rows are stored (every batch carrying them committed)."""

    async def done() -> bool:
        stored = await db.fetchval(
            "SELECT (SELECT count(*) FROM prices) + (SELECT count(*) FROM telemetry)"
        )
        return bool(stored >= rows)

    await wait_until(f"{rows} raw rows stored", done, timeout)


async def test_redeliveries_and_replays_never_create_a_second_row(
    db: asyncpg.Connection, broker: Mosquitto, ingester: RunningIngester
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    singles: list[Message] = []
    for i in range(50):
        ts = ms(start + timedelta(seconds=i))
        singles.append(
            (f"devices/dev-{i % 3}/telemetry", {"ts": ts, "temperature": 20 + i, "humidity": 50})
        )
        singles.append(
            (f"devices/feed-1/stocks/T{i % 2}", {"price": 100 + i, "volume": 1, "ts": ts})
        )
    readings = [
        {"ts": ms(start + timedelta(seconds=i)), "temperature": 20 + i, "humidity": 50}
        for i in range(0, 50, 3)
    ]
    # A store-and-forward flush replaying readings already sent one by one, with a duplicate inside.
    replay: Message = (
        "devices/dev-0/telemetry",
        {"deviceId": "dev-0", "readings": readings + readings[:2]},
    )
    publish(broker.url, singles)
    publish(broker.url, singles)  # the same messages again: a device replay / broker redelivery
    publish(broker.url, [replay, replay])
    await wait_received(db, 2 * len(singles) + 2)

    assert await db.fetchval("SELECT count(*) FROM telemetry") == 100
    assert await db.fetchval("SELECT count(*) FROM prices") == 50
    status = await db.fetchrow(
        "SELECT committed_rows, duplicates, batches, batch_seconds FROM ingest_status"
    )
    # Batch write time is counted (ingest_status.batch_seconds feeds /metrics).
    assert status["batches"] >= 1 and status["batch_seconds"] > 0
    assert status["committed_rows"] == 150
    assert status["duplicates"] == 150 + 2 * 2 * (len(readings) + 2)
    await rollups_settled(db)
    assert await all_mismatches(db) == []


async def test_one_dead_letter_per_bad_payload_class(
    db: asyncpg.Connection, broker: Mosquitto, ingester: RunningIngester
) -> None:
    bad: dict[str, tuple[str, bytes]] = {
        "not_json": ("stocks/AAPL", b"{price: 1"),
        "not_object": ("stocks/AAPL", b"[1, 2]"),
        "bad_type": ("stocks/AAPL", b'{"price": "150.2"}'),
        "missing_field": ("stocks/AAPL", b'{"volume": 10}'),
        "non_finite": ("devices/dev-1/telemetry", b'{"temperature": NaN}'),
        "ts_out_of_window": ("devices/dev-1/telemetry", b'{"ts": 1714041600, "temperature": 20}'),
        "bad_ts": ("devices/dev-1/heartbeat", b'{"ts": "soon"}'),
        "no_metrics": ("devices/dev-1/telemetry", b'{"ts": 1714041600000, "firmware": "1.2"}'),
        "oversized": ("devices/dev-1/telemetry", b'{"t": 1, "pad": "' + b"x" * 300_000 + b'"}'),
        "bad_topic": ("stocks/%25bad", b'{"price": 1}'),
        "unknown_command": (
            "devices/dev-1/acks",
            b'{"id": "8b0e8f7e-1c7a-4b53-9f7e-0a6c2f9b1d11", "status": "ok"}',
        ),
    }
    good = ("devices/dev-1/telemetry", b'{"ts": 1714041600000, "temperature": 21.5}')
    publish(broker.url, [*bad.values(), good])
    await wait_received(db, len(bad) + 1)

    rows = await db.fetch(
        "SELECT reason, topic, payload, payload_size FROM dead_letters ORDER BY id"
    )
    assert sorted(r["reason"] for r in rows) == sorted(bad)
    for row in rows:
        topic, payload = bad[row["reason"]]
        # Over the size limit (and under the broker's): a prefix is kept, with the full size.
        kept = payload[:OVERSIZED_KEPT_BYTES] if row["reason"] == "oversized" else payload
        assert (row["topic"], bytes(row["payload"])) == (topic, kept)
        assert row["payload_size"] == len(payload)
    assert await db.fetchval("SELECT count(*) FROM telemetry") == 1
    assert await db.fetchval("SELECT dead_lettered FROM ingest_status") == len(bad)
    assert ingester.task.done() is False


async def test_unknown_device_is_dead_lettered_when_auto_registration_is_off(
    db: asyncpg.Connection, broker: Mosquitto, database_url: str
) -> None:
    running = await start_ingester(ingest_settings(database_url, broker, auto_register=False))
    try:
        publish(broker.url, [("devices/ghost/telemetry", {"temperature": 20})])
        await wait_received(db, 1)
        assert await db.fetchval("SELECT reason FROM dead_letters") == "unknown_device"
        await db.execute("INSERT INTO devices (device_id, name) VALUES ('ghost', 'Ghost')")
        publish(broker.url, [("devices/ghost/telemetry", {"temperature": 21})])
        await wait_received(db, 2)
        assert await db.fetchval("SELECT value FROM telemetry") == 21
        assert await db.fetchval("SELECT count(*) FROM dead_letters") == 1
    finally:
        await running.close()


async def test_rollups_equal_raw_recomputation_including_late_data(
    db: asyncpg.Connection, broker: Mosquitto, ingester: RunningIngester
) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0)
    messages: list[Message] = []
    for second in range(0, 600, 7):  # the last ten minutes, shuffled
        ts = ms(now - timedelta(seconds=second))
        for device in ("a", "b"):
            messages.append(
                (f"devices/{device}/telemetry", {"ts": ts, "temperature": rng.uniform(15, 35)})
            )
        messages.append(
            ("stocks/ACME", {"price": rng.uniform(90, 110), "volume": rng.randint(1, 9), "ts": ts})
        )
    rng.shuffle(messages)
    publish(broker.url, messages)
    await wait_committed(db, len(messages))
    await rollups_settled(db)
    assert await all_mismatches(db) == []

    # Late data: two days back (older than every refresh window), and into buckets that exist,
    # earlier than their current first row (a new open) and later than their last (a new close).
    late: list[Message] = []
    for offset in (
        timedelta(days=2, seconds=3),
        timedelta(days=2, hours=1),
        timedelta(seconds=601),
    ):
        ts = ms(now - offset)
        late.append(("devices/a/telemetry", {"ts": ts, "temperature": rng.uniform(15, 35)}))
        late.append(("stocks/ACME", {"price": rng.uniform(90, 110), "volume": 3, "ts": ts}))
    late.append(("stocks/ACME", {"price": 1.0, "ts": ms(now - timedelta(seconds=1)) + 1}))
    publish(broker.url, late)
    await wait_committed(db, len(messages) + len(late))
    # Committed (so acknowledged, or about to be): every answer includes the late rows at
    # once, the rollups themselves wherever no refresh window is pending (TimescaleDB refreshes
    # after the commit; plain PostgreSQL merges in it, so nothing is ever pending there)…
    assert await answer_mismatches(db, now - timedelta(days=3), now + timedelta(minutes=1)) == []
    assert await all_mismatches(db, settled_only=True) == []
    # …and everywhere once the pending windows are refreshed, which takes moments.
    await rollups_settled(db)
    assert await all_mismatches(db) == []


async def test_qos0_is_accepted(
    db: asyncpg.Connection, broker: Mosquitto, ingester: RunningIngester
) -> None:
    publish(broker.url, [("stocks/QZ", {"price": 3.5})], qos=0)

    async def arrived() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM prices WHERE ticker = 'QZ'") == 1)

    await wait_until("the QZ tick stored", arrived)


async def test_a_message_the_database_refuses_is_dead_lettered_and_ingest_goes_on(
    db: asyncpg.Connection, broker: Mosquitto, ingester: RunningIngester
) -> None:
    command = "8b0e8f7e-1c7a-4b53-9f7e-0a6c2f9b1d11"
    await db.execute("INSERT INTO devices (device_id, name) VALUES ('dev-n', 'N')")
    await db.execute(
        "INSERT INTO device_commands (id, device_id, command) VALUES ($1, 'dev-n', 'ping')",
        uuid.UUID(command),
    )
    # Valid JSON and a pending command, but a detail PostgreSQL text cannot hold (NUL).
    poisoned = json.dumps({"id": command, "status": "ok", "detail": "a\u0000b"})
    good = ("devices/dev-n/telemetry", {"ts": 1_714_041_600_000, "temperature": 20.0})
    publish(broker.url, [("devices/dev-n/acks", poisoned), good])
    await wait_received(db, 2)

    async def settled() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM telemetry") == 1)

    await wait_until("the one good reading stored", settled)
    row = await db.fetchrow("SELECT reason, payload FROM dead_letters")
    assert row["reason"] == "db_rejected" and bytes(row["payload"]) == poisoned.encode()
    assert await db.fetchval("SELECT status FROM device_commands") == "pending"
    assert not ingester.task.done()


def test_migrations_are_rerunnable(database_url: str) -> None:
    first = current(database_url)
    started = time.monotonic()
    upgrade(database_url)
    assert current(database_url) == first == head()
    assert time.monotonic() - started < 30
