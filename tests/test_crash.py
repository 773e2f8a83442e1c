"""`kill -9` of the ingester mid-stream, then a restart: nothing lost, nothing duplicated."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from devstack.broker import Mosquitto
from tests.oracle import all_mismatches, rollups_settled
from tests.process_support import spawn_ingester
from tests.support import Message, publish, unique, wait_until


async def test_kill_9_mid_stream_then_restart_loses_and_duplicates_nothing(
    db: asyncpg.Connection, database_url: str, broker: Mosquitto, tmp_path: Path
) -> None:
    client_id = unique("ingest")
    log = tmp_path / "ingest.log"
    first = spawn_ingester(database_url, broker, client_id, log)
    try:
        # A probe proves the persistent session is subscribed before the stream starts.
        async def probe_committed() -> bool:
            publish(broker.url, [("stocks/PROBE", {"price": 1, "ts": 1_714_041_600_000})])
            return bool(await db.fetchval("SELECT count(*) FROM prices WHERE ticker = 'PROBE'"))

        await wait_until("the probe tick committed", probe_committed, timeout=30, interval=0.5)

        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        messages: list[Message] = [
            (
                f"devices/d{i % 10}/telemetry",
                {
                    "ts": int((start + timedelta(seconds=i // 10)).timestamp() * 1000),
                    "temperature": i % 37,
                    "humidity": 50,
                },
            )
            for i in range(6000)
        ]
        publishing = asyncio.ensure_future(asyncio.to_thread(publish, broker.url, messages))

        async def some_committed() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM telemetry") >= 1000)

        await wait_until(
            "1000 readings committed before the kill", some_committed, timeout=60, interval=0.01
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        at_kill = await db.fetchval("SELECT count(*) FROM telemetry")
        await publishing
        assert at_kill < 12000, "the stream finished before the kill: nothing was tested"

        second = spawn_ingester(database_url, broker, client_id, log)
        try:

            async def all_committed() -> bool:
                return bool(await db.fetchval("SELECT count(*) FROM telemetry") >= 12000)

            await wait_until(
                "all 12000 readings committed after the restart",
                all_committed,
                timeout=120,
                interval=0.2,
            )
            await asyncio.sleep(1.0)  # anything still redelivered must be skipped, not added
            assert await db.fetchval("SELECT count(*) FROM telemetry") == 12000
            distinct = await db.fetchval(
                "SELECT count(*) FROM (SELECT DISTINCT device_id, metric, time FROM telemetry) k"
            )
            assert distinct == 12000
            assert await db.fetchval("SELECT count(*) FROM prices") == 1
            await rollups_settled(db)
            assert await all_mismatches(db) == []
        finally:
            second.terminate()
            assert second.wait(20) == 0, log.read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
