"""A big append to the stream journal (a fleet's batch: one event per device) is COPYed after
its ids are taken: the same gap-free ids in the events' order, the same rows, one
notification of the last id at commit, nothing left by a rollback."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from tests.test_journal import stream_notifications
from tickwire import journal

N = journal.COPY_FROM + 13


def events(subject: str) -> list[journal.Event]:
    owner = uuid.uuid4()
    return [
        journal.Event("telemetry", f"{subject}-{i}", f'{{"n": {i}}}', owner if i % 3 else None)
        for i in range(N)
    ]


async def test_a_big_append_is_copied_with_gap_free_ids_in_order(
    db: asyncpg.Connection, database_url: str
) -> None:
    async with stream_notifications(database_url) as notified:
        async with db.transaction():
            assert await journal.append(db, [journal.Event("price", "A", "{}")] * 2) == 2
        assert await asyncio.wait_for(notified.get(), 5) == 2
        big = events("dev")
        copied: list[str] = []
        db.add_query_logger(lambda record: copied.append(record.query))
        async with db.transaction():
            assert await journal.append(db, big) == 2 + N
            assert notified.empty()  # at commit, not before
        assert not any("unnest" in q for q in copied)  # not the arrays statement
        assert await asyncio.wait_for(notified.get(), 5) == 2 + N
        rows = await db.fetch("SELECT id, kind, subject, audience, data FROM stream_events")
        got = sorted(tuple(r) for r in rows)[2:]
        assert got == [(3 + i, *e[:2], e.audience, e.data) for i, e in enumerate(big)]


async def test_a_rolled_back_big_append_leaves_no_gap(db: asyncpg.Connection) -> None:
    tx = db.transaction()
    await tx.start()
    await journal.append(db, events("gone"))
    await tx.rollback()
    assert await db.fetchval("SELECT count(*) FROM stream_events") == 0
    async with db.transaction():
        assert await journal.append(db, events("kept")) == N
    assert await db.fetchval("SELECT min(id) FROM stream_events") == 1
