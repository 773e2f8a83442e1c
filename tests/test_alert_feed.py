"""The alert engine's feed (`ingest/feed.py`): what a batch committed comes back exactly
(times to the microsecond), ids are gap-free, pruning never drops what the engine has not
consumed unless it is older than the keep time, and an engine finding entries pruned unread
starts over from the database instead of reading on as if nothing were missing."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest

from ingest import feed
from ingest.alerts.engine import Engine
from ingest.feed import Committed
from tests.alerts_support import add_device, alerts, wait_alert
from tests.engine_support import alert_histories, streamed, wait_leader
from tests.support import wait_until


def batch(at: datetime, device: str = "fd", temperature: float = 20.0) -> Committed:
    return Committed(
        prices=[(at, "FEED", 101.25, None, "fd"), (at, "FEED2", 1e300, 7.0, "")],
        telemetry=[(at, device, "temperature", temperature), (at, device, "ünïcode", -0.0)],
        seen={device: at + timedelta(microseconds=1)},
        online={device: "OFFLINE"},
        received_at=at + timedelta(microseconds=999_999),
    )


async def append(db: asyncpg.Connection, committed: Committed) -> int:
    async with db.transaction():
        return await feed.append(db, committed)


def test_a_batch_comes_back_exactly() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
    assert feed.decode(feed.encode(batch(at))) == batch(at)
    old = datetime(1901, 12, 13, 20, 45, 52, 1, tzinfo=UTC)  # before the epoch
    assert feed.decode(feed.encode(batch(old))) == batch(old)


def test_entries_of_the_first_format_still_read() -> None:
    """Integer microseconds since the epoch, as entries written before the ISO format."""
    at = datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
    us = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    first = {
        "p": [[us, "FEED", 101.25, None, "fd"], [us, "FEED2", 1e300, 7.0, ""]],
        "t": [[us, "fd", "temperature", 20.0], [us, "fd", "ünïcode", -0.0]],
        "s": {"fd": us + 1},
        "o": {"fd": "OFFLINE"},
        "r": us + 999_999,
    }
    assert feed.decode(orjson.dumps(first)) == batch(at)


async def test_a_batch_held_locally_is_not_fetched(db: asyncpg.Connection) -> None:
    """The writer's own engine takes its batches from `feed.Local`: the same answers, and one
    the bound dropped, or never held, comes from the table."""
    at = datetime.now(UTC)
    ids = [await append(db, batch(at, temperature=float(n))) for n in range(3)]
    local = feed.Local(keep_rows=2 * 5)  # two batches of 4 rows (+1 each)
    held = [batch(at, temperature=float(n)) for n in range(3)]
    for entry_id, committed in zip(ids, held, strict=True):
        local.add(entry_id, committed)
    assert local.ids(0) == ids[1:]  # the oldest went
    page = await feed.read(db, 0, 10, local=local)
    assert [e.committed for e in page.entries] == held
    assert page.entries[0].committed is not held[0]  # read from the table
    assert page.entries[1].committed is held[1] and page.entries[2].committed is held[2]
    assert local.ids(0) == []
    local.add(ids[2], held[2])
    assert local.ids(ids[2]) == []  # read already: dropped


async def test_ids_are_gap_free_and_an_empty_batch_appends_nothing(db: asyncpg.Connection) -> None:
    at = datetime.now(UTC)
    ids = [await append(db, batch(at)) for _ in range(3)]
    empty = Committed([], [], {}, {}, at)
    assert await append(db, empty) == 0
    assert ids == [1, 2, 3]
    assert [e.id for e in (await feed.read(db, 1, 10)).entries] == [2, 3]
    assert not (await feed.read(db, 1, 10)).more
    first = await feed.read(db, 0, 1)
    assert first.more and first.entries[0].committed == batch(at)
    size = len(feed.encode(batch(at)))
    capped = await feed.read(db, 0, 10, max_bytes=size)  # the first fills it
    assert [e.id for e in capped.entries] == [1] and capped.more
    assert [e.id for e in (await feed.read(db, 0, 10, max_bytes=1)).entries] == [1]


async def test_pruning_keeps_what_the_engine_has_not_consumed(db: asyncpg.Connection) -> None:
    at = datetime.now(UTC)
    for _ in range(5):
        await append(db, batch(at))
    await db.execute("UPDATE alert_engine SET cursor = 2")
    assert await feed.prune(db, 3600) == 2
    assert [e.id for e in (await feed.read(db, 0, 10)).entries] == [3, 4, 5]
    # Unconsumed but older than the keep time: dropped (no engine ran that long).
    await db.execute("UPDATE alert_feed SET at = now() - interval '2 hours' WHERE id <= 4")
    assert await feed.prune(db, 3600) == 2
    assert [e.id for e in (await feed.read(db, 0, 10)).entries] == [5]


async def test_an_engine_finding_entries_pruned_unread_starts_over(
    db: asyncpg.Connection, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await add_device(db, "fd")
    at = datetime.now(UTC)
    for _ in range(3):
        await append(db, batch(at))
    await db.execute("DELETE FROM alert_feed WHERE id <= 2")  # pruned before any engine read
    await append(db, batch(datetime.now(UTC), temperature=40.0))
    engine = Engine(database_url, 10.0)
    done = asyncio.Event()
    task = asyncio.create_task(engine.run(done))
    try:
        raised = await wait_alert(db, "fd", "HIGH_TEMP")  # id 4 evaluated after the gap
        assert raised["value"] == 40.0

        async def consumed() -> bool:
            return bool(await db.fetchval("SELECT cursor FROM alert_engine") == 4)

        await wait_until("the cursor past the feed", consumed, 15)
        assert len(await alerts(db, "fd", "HIGH_TEMP")) == 1
        said = [r.getMessage() for r in caplog.records if r.name == "ingest.alerts"]
        assert "feed entries 1 to 2 were pruned unread: starting over from the database" in said
    finally:
        done.set()
        await asyncio.wait_for(task, 15)


def reading(device: str, temperature: float) -> Committed:
    at = datetime.now(UTC)
    return Committed([], [(at, device, "temperature", temperature)], {device: at}, {}, at)


async def test_a_leader_whose_connection_died_stops_and_the_standby_leads(
    db: asyncpg.Connection, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The leader's process lives on but its connection is gone (the server ended it, as on
    a network cut): the lock is released with it, the standby leads, and the old leader,
    reconnecting, finds the lock taken and stands by: each change written once."""
    caplog.set_level(logging.INFO, logger="ingest.alerts")
    await add_device(db, "hl")
    a, b = Engine(database_url, 10.0, name="a"), Engine(database_url, 10.0, name="b")
    done = asyncio.Event()
    tasks = [asyncio.create_task(a.run(done))]
    try:
        await wait_leader(db, "a", timeout=15)
        tasks.append(asyncio.create_task(b.run(done)))
        await append(db, reading("hl", 40.0))
        await wait_alert(db, "hl", "HIGH_TEMP")
        holder = await db.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        )
        assert await db.fetchval("SELECT pg_terminate_backend($1)", holder)
        await wait_leader(db, "b", timeout=15)
        await append(db, reading("hl", 20.0))
        await wait_alert(db, "hl", "HIGH_TEMP", state="CLEARED")
        await append(db, reading("hl", 41.0))

        async def raised_again() -> bool:
            return len(await alerts(db, "hl", "HIGH_TEMP")) == 2

        await wait_until("a second HIGH_TEMP", raised_again, 15)

        async def a_stands_by() -> bool:
            said = [r.getMessage() for r in caplog.records if r.name == "ingest.alerts"]
            return said.count("alert engine a on standby") == 1

        await wait_until("a on standby after reconnecting", a_stands_by, 15)
        assert await alert_histories(db) == {
            ("HIGH_TEMP", "hl"): [["ACTIVE", "CLEARED"], ["ACTIVE"]]
        }
        assert await streamed(db) == {("HIGH_TEMP", "hl"): ["ACTIVE", "CLEARED", "ACTIVE"]}
    finally:
        done.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)
