"""The stream journal: events of committed rows only, ids gap-free and in commit order."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg

from devstack.broker import Mosquitto
from tests.ingest_support import RunningIngester
from tests.support import publish, wait_until
from tickwire import journal


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


@contextlib.asynccontextmanager
async def stream_notifications(database_url: str) -> AsyncIterator[asyncio.Queue[int]]:
    """The last ids the journal notifies on its channel, as they come, while inside."""
    listener = await asyncpg.connect(database_url)
    notified: asyncio.Queue[int] = asyncio.Queue()
    await listener.add_listener(
        journal.STREAM_CHANNEL, lambda *args: notified.put_nowait(int(args[3]))
    )
    try:
        yield notified
    finally:
        await listener.close()


async def events_after(db: asyncpg.Connection, after: int) -> list[asyncpg.Record]:
    return list(await db.fetch("SELECT * FROM stream_events WHERE id > $1 ORDER BY id", after))


async def test_batches_stream_their_new_rows_after_commit(
    db: asyncpg.Connection, broker: Mosquitto, ingester: RunningIngester, database_url: str
) -> None:
    async with stream_notifications(database_url) as notified:
        before = datetime.now(UTC)
        ts = ms(before)
        reading = {"ts": ts, "temperature": 22.0, "humidity": 40}
        publish(
            broker.url,
            [
                ("devices/dev-9/telemetry", reading),
                ("devices/dev-8/heartbeat", {"ts": ts, "uptime_s": 12}),
                ("devices/feed/stocks/ACME", {"price": 10.5, "volume": 3, "ts": ts}),
            ],
        )
        last = 0
        while last < 5:  # a telemetry, a price and three device_status events
            last = await asyncio.wait_for(notified.get(), 10)
        # Notified only after commit: the events and their rows are visible to another session.
        events = await events_after(db, 0)
        assert [e["id"] for e in events] == list(range(1, last + 1))
        by_kind = {(e["kind"], e["subject"]): json.loads(e["data"]) for e in events}
        # A price on a device's own topic: that feed is a device heard from too.
        assert set(by_kind) == {
            ("telemetry", "dev-9"),
            ("price", "ACME"),
            ("device_status", "dev-8"),
            ("device_status", "dev-9"),
            ("device_status", "feed"),
        }
        [reading_event] = by_kind["telemetry", "dev-9"]["readings"]
        assert reading_event["values"] == {"temperature": 22.0, "humidity": 40.0}
        at = datetime.fromisoformat(reading_event["time"])
        assert at == datetime.fromtimestamp(ts / 1000, UTC)
        [tick] = by_kind["price", "ACME"]["ticks"]
        assert (tick["price"], tick["volume"], tick["source"]) == (10.5, 3.0, "feed")
        assert by_kind["device_status", "dev-8"]["status"] == "ONLINE"
        assert await db.fetchval("SELECT count(*) FROM telemetry WHERE device_id = 'dev-9'") == 2

        # The same reading again (a redelivery) and a second heartbeat: no data event, and the
        # device is already ONLINE, so no status event either; a new reading streams.
        newer = {"ts": ts + 1000, "temperature": 23.0}
        publish(
            broker.url,
            [
                ("devices/dev-9/telemetry", reading),
                ("devices/dev-8/heartbeat", {"ts": ts + 1000, "uptime_s": 13}),
                ("devices/dev-9/telemetry", newer),
            ],
        )
        mark = last
        while last == mark:
            last = await asyncio.wait_for(notified.get(), 10)
        await asyncio.sleep(0.5)  # anything else would have been committed by now
        later = await events_after(db, mark)
        assert [(e["kind"], e["subject"]) for e in later] == [("telemetry", "dev-9")]
        [only] = json.loads(later[0]["data"])["readings"]
        assert only["values"] == {"temperature": 23.0}
        assert datetime.fromisoformat(only["time"]) == datetime.fromtimestamp(ts / 1000 + 1, UTC)


async def test_concurrent_appends_get_ids_in_commit_order(database_url: str) -> None:
    first, second = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        slow = first.transaction()
        await slow.start()
        await journal.append(first, [journal.Event("price", "A", "{}")] * 3)

        async def append_second() -> int:
            async with second.transaction():
                return await journal.append(second, [journal.Event("price", "B", "{}")])

        waiting = asyncio.create_task(append_second())
        await asyncio.sleep(0.3)
        assert not waiting.done()  # held behind the first transaction's commit
        await slow.commit()
        assert await asyncio.wait_for(waiting, 5) == 4
        rows = await first.fetch("SELECT id, subject FROM stream_events ORDER BY id")
        assert [(r["id"], r["subject"]) for r in rows] == [(1, "A"), (2, "A"), (3, "A"), (4, "B")]
    finally:
        await first.close()
        await second.close()


async def test_a_rolled_back_append_leaves_no_gap(db: asyncpg.Connection) -> None:
    tx = db.transaction()
    await tx.start()
    await journal.append(db, [journal.Event("price", "A", "{}")] * 2)
    await tx.rollback()
    async with db.transaction():
        assert await journal.append(db, [journal.Event("price", "B", "{}")]) == 1


async def test_a_batch_streams_one_event_per_subject_in_time_order(
    db: asyncpg.Connection, broker: Mosquitto, ingester: RunningIngester
) -> None:
    now = ms(datetime.now(UTC))
    readings = [{"ts": now - 1000 * i, "temperature": float(i)} for i in range(100)]
    publish(broker.url, [("devices/dev-1/telemetry", {"deviceId": "dev-1", "readings": readings})])

    async def streamed() -> bool:
        return bool(
            await db.fetchval("SELECT count(*) FROM stream_events WHERE kind = 'telemetry'")
        )

    await wait_until("a telemetry event in the journal", streamed)
    [event] = await db.fetch("SELECT data FROM stream_events WHERE kind = 'telemetry'")
    got = json.loads(event["data"])["readings"]
    assert [r["values"]["temperature"] for r in got] == [float(i) for i in range(99, -1, -1)]


async def test_prune_keeps_a_bounded_window(db: asyncpg.Connection) -> None:
    async with db.transaction():
        await journal.append(db, [journal.Event("price", "A", "{}")] * 50)
    assert await journal.prune(db, keep_events=20, keep_seconds=3600) == 30
    assert await db.fetchval("SELECT min(id) FROM stream_events") == 31
    await db.execute("UPDATE stream_events SET at = at - interval '2 hours' WHERE id <= 40")
    assert await journal.prune(db, keep_events=1000, keep_seconds=3600) == 10
    assert await db.fetchval("SELECT min(id) FROM stream_events") == 41
    assert await db.fetchval("SELECT last_id FROM stream_state") == 50
