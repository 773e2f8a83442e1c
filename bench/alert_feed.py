"""How fast the alert engine consumes its feed (`alert_feed`), the limit of one engine.

`python -m bench.alert_feed [--quick] [--server-url URL]`

Each scenario gets a fresh migrated database with D devices (each with the built-in
HIGH_TEMP, OFFLINE and ONLINE alerts) and, for the `rules` scenario, a fleet THRESHOLD rule
with a duration on every device (its runs are stored with the cursor). The feed is filled
first with B batches of R readings (5 % of them hot: alerts raised and cleared), then one
engine is started and timed until its cursor reaches the feed's last id: readings/s is what
one leader keeps up with, on this machine, with PostgreSQL on the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.report import json_line
from bench.stack import fresh_database
from devstack.embedded_pg import embedded_postgres
from ingest import feed
from ingest.alerts.engine import Engine
from ingest.alerts.hearing import Hearing
from ingest.feed import Committed
from tests.support import wait_until
from tickwire.contract import TelemetryRow
from tickwire.logs import setup_logging

log = logging.getLogger("bench.alert_feed")


async def fill(url: str, devices: int, batches: int, per_batch: int, rules: bool) -> int:
    conn = await asyncpg.connect(url)
    try:
        ids = [f"d{n}" for n in range(devices)]
        await conn.execute(
            """INSERT INTO devices (device_id, name, status, last_seen)
               SELECT id, id, 'ONLINE', now() FROM unnest($1::text[]) AS id""",
            ids,
        )
        if rules:
            owner = uuid.uuid4()
            await conn.execute(
                "INSERT INTO users (id, email, hashed_password, is_superuser)"
                " VALUES ($1, 'bench@example.com', 'x', true)",
                owner,
            )
            await conn.execute(
                """INSERT INTO alert_rules (owner_id, name, kind, metric, operator, threshold,
                       duration_s) VALUES ($1, 'humid', 'THRESHOLD', 'humidity', '>', 80, 2)""",
                owner,
            )
        start = datetime.now(UTC)
        readings = 0
        for b in range(batches):
            at = start + timedelta(milliseconds=b)
            rows: list[TelemetryRow] = []
            for r in range(per_batch):
                n = (b * per_batch + r) % devices
                hot = (b * per_batch + r) % 20 == 0
                rows.append((at, ids[n], "temperature", 35.0 if hot else 20.0))
                rows.append((at, ids[n], "humidity", 90.0 if hot else 40.0))
            seen = {row[1]: at for row in rows}
            async with conn.transaction():
                await feed.append(conn, Committed([], rows, seen, {}, at))
            readings += len(rows)
        return readings
    finally:
        await conn.close()


async def consume(url: str) -> float:
    conn = await asyncpg.connect(url)
    last = int(await conn.fetchval("SELECT last_id FROM alert_feed_state"))
    engine = Engine(url, 3600.0, hearing=Hearing(5.0, 30.0, need_one=False), name="bench")
    done = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(engine.run(done))
    try:

        async def consumed() -> bool:
            return engine.cursor >= last

        await wait_until("the feed consumed", consumed, 3600, interval=0.02)
        return time.perf_counter() - started
    finally:
        done.set()
        await task
        await conn.close()


async def scenario(
    url: str, devices: int, batches: int, per_batch: int, rules: bool
) -> dict[str, float]:
    readings = await fill(url, devices, batches, per_batch, rules)
    seconds = await consume(url)
    return {"readings": readings, "batches": batches, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alert_feed")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--server-url")
    args = parser.parse_args(argv)
    setup_logging("bench", "WARNING")
    batches = 200 if args.quick else 1000
    plans = [
        ("built-ins, 100 readings/batch", 1000, batches, 50, False),
        ("+ fleet rule with duration", 1000, batches, 50, True),
        ("built-ins, 1000 readings/batch", 5000, batches // 5, 500, False),
    ]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as servers:
        server_url = args.server_url or servers.enter_context(
            embedded_postgres(Path(tmp) / "pg", database="postgres")
        )
        for name, devices, count, per_batch, rules in plans:
            with fresh_database(server_url, f"feed_{uuid.uuid4().hex[:12]}") as url:
                results[name] = asyncio.run(scenario(url, devices, count, per_batch, rules))
    print(
        f"{'scenario':34}{'readings':>10}{'batches':>9}{'seconds':>9}{'readings/s':>12}{'batches/s':>11}"
    )
    for name, r in results.items():
        print(
            f"{name:34}{r['readings']:>10.0f}{r['batches']:>9.0f}{r['seconds']:>9.2f}"
            f"{r['readings'] / r['seconds']:>12.0f}{r['batches'] / r['seconds']:>11.0f}"
        )
    print(json_line({"bench": "alert_feed", "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
