"""Where a big fleet's cost goes, statement by statement, without the broker's noise.

`python -m bench.fleet_cost [--devices 10,10000] [--messages 50000] [--batch 1000] [--rate 4000]
[--packed-devices]`

For each fleet size, on a fresh database of an embedded PostgreSQL (or `--server-url`): the
devices are registered and ONLINE (a steady-state fleet, as `bench.ingest --devices --warm`),
then the same single-reading messages as `bench.ingest --devices` (`--messages` spread
round-robin over the fleet, receive times advancing at `--rate` msg/s) are written by the real
`ingest.writer.Writer` (rollup partials deferred, as the ingester runs it) in batches of
`--batch` messages, on one connection, one after the other; then the partials are merged
(`ingest.merger.merge`, on another connection), as `bench.ingest` does at the end of a run.

Measured: the server backend's CPU time per statement kind (its `/proc/<pid>/schedstat`
run time, in nanoseconds, read after every statement through asyncpg's query logger: a backend
runs only for its statements, so the difference between two reads is the statement's cost),
the merge's, and the writer's own Python (process CPU time around `Writer.write`). What is
left out: MQTT (paho), parsing happens inside `Batch.add` (outside the measured writes), the
alert engine. Printed: µs per message per kind at each fleet size and the ratio to the
smallest fleet, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import psycopg

from bench.stack import fresh_database
from bench.workload import single_readings
from devstack.embedded_pg import embedded_postgres
from ingest.batch import Batch
from ingest.merger import merge
from ingest.settings import IngestSettings
from ingest.stats import Stats
from ingest.subscriber import Received
from ingest.writer import Writer

#: Statement kinds by a fragment of their text, first match wins.
KINDS = (
    ("devices statement (last_seen/status)", "FOR UPDATE OF d"),
    ("identity lookup", "device_tombstones t ON"),
    ("rows + rollup partials", "rollup_delta_telemetry"),
    ("rows + rollup partials", "rollup_pending"),
    ("stage COPY", "COPY"),
    ("alert feed append", "alert_feed_state"),
    ("stream journal append", "stream_state"),
    ("ingest_status", "ingest_status"),
)
OTHER = "other (BEGIN, COMMIT, savepoints)"
MERGE = "rollup merge (1m/1h/1d upserts)"
PYTHON = "writer's Python (client CPU)"


def _run_ns(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def _kind(query: str) -> str:
    for kind, fragment in KINDS:
        if fragment in query:
            return kind
    return OTHER


async def _fleet(
    url: str, devices: int, messages: int, batch_size: int, rate: float, packed: bool = False
) -> dict[str, float]:
    """Server and writer CPU µs per message, by kind, for one fleet size; `packed`: the
    `devices` table without migration 0014's free room (fillfactor 100, as before it)."""
    load = single_readings(messages, devices)
    ids = sorted({key[0] for key in load.keys})
    _register(url, ids, packed)
    conn = await asyncpg.connect(url)
    merger = await asyncpg.connect(url)
    spent: dict[str, float] = defaultdict(float)
    try:
        backend = await conn.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
        writer = Writer(conn, backend, auto_register=True, seen_interval_s=5.0, defer_rollups=True)
        await writer.prepare()
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        mark = [_run_ns(pid)]

        def logged(record: Any) -> None:
            now = _run_ns(pid)
            spent[_kind(record.query)] += (now - mark[0]) / 1e3
            mark[0] = now

        conn.add_query_logger(logged)
        limits = IngestSettings().limits()
        start = time.time()
        stats = Stats()
        for first in range(0, messages, batch_size):
            batch = Batch()
            for index in range(first, min(first + batch_size, messages)):
                topic, payload = load.messages[index]
                received = start + index / rate
                batch.add(Received(topic, payload, 1, index + 1, 1, received), limits)
            mark[0] = _run_ns(pid)
            cpu = time.process_time()
            await writer.write(batch, stats, "fleet-cost")
            spent[PYTHON] += (time.process_time() - cpu) * 1e6
        conn.remove_query_logger(logged)
        merger_pid = await merger.fetchval("SELECT pg_backend_pid()")
        before = _run_ns(merger_pid)
        await merge(merger)
        spent[MERGE] += (_run_ns(merger_pid) - before) / 1e3
    finally:
        await conn.close()
        await merger.close()
    return {kind: value / messages for kind, value in spent.items()}


def _register(url: str, ids: list[str], packed: bool) -> None:
    """The fleet, registered and ONLINE (heard from just now)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if packed:
            conn.execute("ALTER TABLE devices RESET (fillfactor)")
        conn.execute(
            """INSERT INTO devices (device_id, name, status, last_seen)
               SELECT id, id, 'ONLINE', now() FROM unnest(%s::text[]) AS id""",
            [ids],
        )


@contextlib.contextmanager
def _server(server_url: str | None) -> Iterator[str]:
    if server_url is not None:
        yield server_url
        return
    with (
        tempfile.TemporaryDirectory(prefix="tickwire-fleet-cost-") as tmp,
        embedded_postgres(Path(tmp) / "pg", database="postgres") as url,
    ):
        yield url


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fleet_cost", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--devices", default="10,10000", help="comma-separated fleet sizes")
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1_000, help="messages per batch")
    parser.add_argument("--rate", type=float, default=4_000.0, help="receive rate, msg/s")
    parser.add_argument("--server-url", help="a local PostgreSQL server instead of an embedded one")
    parser.add_argument(
        "--packed-devices",
        action="store_true",
        help="the devices table at fillfactor 100, as before migration 0014 (its effect)",
    )
    args = parser.parse_args(argv)
    fleets = [int(n) for n in args.devices.split(",")]
    found: dict[int, dict[str, float]] = {}
    with _server(args.server_url) as server:
        for n in fleets:
            with fresh_database(server, f"fleet_cost_{uuid.uuid4().hex[:8]}") as url:
                found[n] = asyncio.run(
                    _fleet(url, n, args.messages, args.batch, args.rate, args.packed_devices)
                )
    kinds = [*dict.fromkeys(k for k, _ in KINDS), OTHER, MERGE]
    print(
        f"{args.messages:,} single-reading messages, batches of {args.batch}, received at "
        f"{args.rate:g} msg/s; CPU µs per message (server backend unless said)"
    )
    header = f"{'':<40}" + "".join(f"{f'{n} dev':>12}" for n in fleets)
    header += f"{f'{fleets[-1]}/{fleets[0]}':>10}"
    print(header)
    fields: dict[str, Any] = {
        "bench": "fleet_cost",
        "messages": args.messages,
        "packed_devices": args.packed_devices,
    }
    for kind in [*kinds, "server, all", PYTHON]:
        if kind == "server, all":
            values = [sum(found[n].get(k, 0.0) for k in kinds) for n in fleets]
        else:
            values = [found[n].get(kind, 0.0) for n in fleets]
        ratio = values[-1] / values[0] if values[0] else float("nan")
        print(f"{kind:<40}" + "".join(f"{v:>12.1f}" for v in values) + f"{ratio:>10.2f}")
        key = kind.split(" (")[0].replace(" ", "_").replace(",", "").replace("'", "")
        for n, v in zip(fleets, values, strict=True):
            fields[f"{n}_{key}_us"] = round(v, 2)
    print(json.dumps(fields, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
