"""`kill -9` of the ingester in the middle of store-and-forward batch payloads (100 readings a
message, the writer's plain-COPY fast path and its dedup fallback on the redelivered ones),
then a restart: no row lost or duplicated, each reading streamed once, rollups exact."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson

from devstack.broker import Mosquitto
from tests.oracle import all_mismatches, rollups_settled
from tests.process_support import spawn_ingester
from tests.support import Message, publish, unique, wait_until

DEVICES, MESSAGES, READINGS = 10, 300, 100
ROWS = MESSAGES * READINGS * 2


def flushes() -> list[Message]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    messages: list[Message] = []
    for index in range(MESSAGES):
        step, device = divmod(index, DEVICES)
        readings = [
            {
                "ts": int((start + timedelta(seconds=step * READINGS + k)).timestamp() * 1000),
                "temperature": (index + k) % 37,
                "humidity": 50 + k % 7,
            }
            for k in range(READINGS)
        ]
        messages.append((f"devices/cb{device}/telemetry", {"readings": readings}))
    return messages


async def count(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM telemetry"))


async def test_kill_9_mid_batch_payloads_then_restart_loses_and_duplicates_nothing(
    db: asyncpg.Connection, database_url: str, broker: Mosquitto, tmp_path: Path
) -> None:
    client_id = unique("ingest")
    log = tmp_path / "ingest.log"
    first = spawn_ingester(database_url, broker, client_id, log)
    try:

        async def probe_committed() -> bool:
            publish(broker.url, [("stocks/PROBE", {"price": 1, "ts": 1_714_041_600_000})])
            return bool(await db.fetchval("SELECT count(*) FROM prices WHERE ticker = 'PROBE'"))

        await wait_until("the probe tick committed", probe_committed, timeout=30, interval=0.5)
        publishing = asyncio.ensure_future(asyncio.to_thread(publish, broker.url, flushes()))

        async def some_committed() -> bool:
            return await count(db) >= 4 * READINGS * 2

        await wait_until("some flushes committed", some_committed, timeout=60, interval=0.005)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        at_kill = await count(db)
        await publishing
        assert at_kill < ROWS, "the stream finished before the kill: nothing was tested"

        second = spawn_ingester(database_url, broker, client_id, log)
        try:

            async def all_committed() -> bool:
                return await count(db) >= ROWS

            await wait_until("every reading committed", all_committed, timeout=120, interval=0.2)
            await asyncio.sleep(1.0)  # anything still redelivered must be skipped, not added
            assert await count(db) == ROWS
            distinct = await db.fetchval(
                "SELECT count(*) FROM (SELECT DISTINCT device_id, metric, time FROM telemetry) k"
            )
            assert distinct == ROWS
            streamed: list[tuple[str, str]] = []
            for (data,) in await db.fetch(
                "SELECT data FROM stream_events WHERE kind = 'telemetry' ORDER BY id"
            ):
                event = orjson.loads(data)
                streamed += [(event["device_id"], r["time"]) for r in event["readings"]]
            assert len(streamed) == len(set(streamed)) == ROWS // 2
            await rollups_settled(db)
            assert await all_mismatches(db) == []
        finally:
            second.terminate()
            assert second.wait(20) == 0, log.read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
