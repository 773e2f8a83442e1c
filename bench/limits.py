"""How far the batch path is from what the database can take: the COPY ladder.

`python -m bench.limits [--quick] [--rounds R] [--server-url URL] [--compare DIR]`

The same telemetry rows (the ingest bench's store-and-forward workload: messages of 100
readings × 2 metrics) are written into a fresh migrated database per step, in batches of
`--batch-rows` (10 000), each batch its own transaction, one connection unless said:

1. raw COPY: asyncpg binary `copy_records_to_table` straight into `telemetry`
   (and the same on 2 connections at once);
2. + staging: COPY into a temporary table, `INSERT … SELECT … ON CONFLICT DO NOTHING`;
3. + RETURNING: the inserted rows come back to Python (what dedup-by-RETURNING costs);
4. + rollup merge: the plain-PostgreSQL rollup statement merging in the batch's statement
   (`ingest.rollup.insert_statement`, `Upkeep.MERGE`; not on TimescaleDB, whose rollups are
   continuous aggregates refreshed by its own jobs);
4b. + rollup partials appended (`Upkeep.DEFER`, what the ingester's batches do), and the
   merge of them all (`ingest.merger.merge`) once after the last batch, inside the clock;
5. Writer: `ingest.writer.Writer.write` on parsed batches (rows, rollups, devices, stream
   events, counters: everything of a batch's transaction), parsing outside the clock; rollups
   as the ingester keeps them (partials appended, merged once at the end, in the clock);
6. tickwire end to end: `python -m ingest` draining the same messages from the broker
   (`bench.ingest`'s scenario (d)), timed until the rollup partials it left are merged too
   (`bench.ingester.How`);
6c. with `--compare DIR`: step 6 with the ingester of the source tree DIR (another commit's
   `git worktree`), in the same rounds: before/after in one run;
7. psql CSV: `psql -c "\\copy telemetry FROM … CSV"` of the same rows, one transaction, the
   file on local disk — the server's own text-COPY ceiling for one client.

Steps run interleaved round by round (the order rotating); the table shows each step's median
rows/s with its spread (min–max over rounds), and its ratio to step 1 in the same round, the
median over rounds with its spread: on a shared machine the rates drift, the ratios less.
Every step also gets its CPU µs per row, the client's (the bench process for steps 1–5; the
ingester for 6 and 6c, from its first commit seen: `bench.ingester.Cpu`; none for psql) and
the server's (its processes on this machine): process CPU does not count a neighbour's load
as the wall clock does, so it is the steadier before/after on a shared machine.
lost = dup = 0 is checked for step 6 (counted in the database as `bench.ingest` does); the
other steps write the rows exactly once by construction and are checked by row count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench.ingest import IngestBench
from bench.ingester import How, server_cpu_s, server_processes
from bench.report import json_line
from bench.stack import Stack, checkpoint, fresh_database, stack
from bench.workload import Workload, batch_readings
from ingest.batch import Batch
from ingest.merger import merge
from ingest.rollup import Upkeep, insert_statement
from ingest.settings import IngestSettings
from ingest.stats import Stats
from ingest.subscriber import Received
from ingest.writer import Writer
from tickwire.contract import TelemetryRow
from tickwire.logs import setup_logging

_COLUMNS = ("time", "device_id", "metric", "value")


@dataclass(frozen=True, slots=True)
class Sizes:
    messages: int = 1_000
    readings: int = 100
    devices: int = 100
    batch_rows: int = 10_000


QUICK = Sizes(messages=100, readings=100, devices=10, batch_rows=10_000)


@dataclass(frozen=True, slots=True)
class Load:
    workload: Workload
    rows: list[TelemetryRow]
    batches: list[list[TelemetryRow]]
    messages: list[list[Received]]
    """The workload's messages, grouped as the row batches are (for the Writer step)."""


def load(sizes: Sizes) -> Load:
    workload = batch_readings(sizes.messages, sizes.readings, sizes.devices)
    now = time.time()
    batch = Batch()
    limits = IngestSettings().limits()
    received = [Received(t, p, 1, 0, 0, now) for t, p in workload.messages]
    for message in received:
        batch.add(message, limits)
    rows = [r for item in batch.items if item.parsed for r in item.parsed.telemetry]
    per_message = len(rows) // max(1, len(received))
    step = max(1, sizes.batch_rows // max(1, per_message))
    messages = [received[i : i + step] for i in range(0, len(received), step)]
    batches = [rows[i : i + step * per_message] for i in range(0, len(rows), step * per_message)]
    return Load(workload, rows, batches, messages)


Step = Callable[[str, Load], Coroutine[Any, Any, float]]


async def raw_copy(url: str, data: Load) -> float:
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        for rows in data.batches:
            async with conn.transaction():
                await conn.copy_records_to_table("telemetry", records=rows, columns=_COLUMNS)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def raw_copy_2(url: str, data: Load) -> float:
    conns = [await asyncpg.connect(url) for _ in range(2)]
    queue = list(data.batches)

    async def lane(conn: asyncpg.Connection) -> None:
        while queue:
            rows = queue.pop()
            async with conn.transaction():
                await conn.copy_records_to_table("telemetry", records=rows, columns=_COLUMNS)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(lane(c) for c in conns))
        return time.perf_counter() - started
    finally:
        for conn in conns:
            await conn.close()


def _staged(statement: str, fetch: bool, merged: bool = False) -> Step:
    """`merged`: the appended rollup partials are merged after the last batch (in the clock)."""

    async def step(url: str, data: Load) -> float:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "CREATE TEMP TABLE stage_telemetry (LIKE telemetry) ON COMMIT DELETE ROWS"
            )
            started = time.perf_counter()
            for rows in data.batches:
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "stage_telemetry", records=rows, columns=_COLUMNS
                    )
                    if fetch:
                        [tuple(r) for r in await conn.fetch(statement)]
                    else:
                        await conn.execute(statement)
            if merged:
                await merge(conn)
            return time.perf_counter() - started
        finally:
            await conn.close()

    return step


_ON_CONFLICT = """INSERT INTO telemetry (time, device_id, metric, value)
SELECT time, device_id, metric, value FROM stage_telemetry ORDER BY device_id, time
ON CONFLICT DO NOTHING"""


async def writer(url: str, data: Load) -> float:
    backend = await _backend(url)
    conn = await asyncpg.connect(url)
    try:
        w = Writer(conn, backend, auto_register=True, defer_rollups=True)
        await w.prepare()
        limits = IngestSettings().limits()
        batches = []
        for messages in data.messages:
            batch = Batch()
            for message in messages:
                batch.add(message, limits)
            batches.append(batch)
        stats = Stats()
        started = time.perf_counter()
        for batch in batches:
            await w.write(batch, stats, "limits")
        if w.defer_rollups:
            await merge(conn)
        return time.perf_counter() - started
    finally:
        await conn.close()


def psql_csv(url: str, data: Load, workdir: Path) -> float:
    path = workdir / "rows.csv"
    with path.open("w") as out:
        for t, device, metric, value in data.rows:
            out.write(f"{t.isoformat()},{device},{metric},{value!r}\n")
    started = time.perf_counter()
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c",
         f"\\copy telemetry (time, device_id, metric, value) FROM '{path}' CSV"],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - started


def _backends(server: psutil.Process | None) -> set[int]:
    with contextlib.suppress(psutil.Error):
        return {child.pid for child in server.children()} if server is not None else set()
    return set()


def _quiet(server: psutil.Process | None) -> set[int]:
    """The server's processes once those of earlier connections (the database's creation
    and migration) have exited, their CPU counted before the step's (up to 2 s)."""
    deadline = time.monotonic() + 2.0
    seen = _backends(server)
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = _backends(server)
        if now >= seen:
            return now
        seen = now
    return seen


def _settle(server: psutil.Process | None, before: set[int]) -> None:
    """Wait (up to 2 s) until the backends of the step's connections, closed now, have exited
    and been reaped: only then is their CPU in the postmaster's children times."""
    deadline = time.monotonic() + 2.0
    while _backends(server) - before and time.monotonic() < deadline:
        time.sleep(0.01)


async def _count(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM telemetry"))
    finally:
        await conn.close()


ROLLUP_MERGE = "4. + rollup merge (RETURNING)"
ROLLUP_DEFER = "4b. + rollup partials, merged at end"
STEPS: dict[str, Step] = {
    "1. raw binary COPY into telemetry": raw_copy,
    "1b. raw binary COPY, 2 connections": raw_copy_2,
    "2. staging + ON CONFLICT DO NOTHING": _staged(_ON_CONFLICT, fetch=False),
    "3. + RETURNING to Python": _staged(_ON_CONFLICT + " RETURNING *", fetch=True),
    ROLLUP_MERGE: _staged(insert_statement("telemetry", Upkeep.MERGE), fetch=True),
    ROLLUP_DEFER: _staged(insert_statement("telemetry", Upkeep.DEFER), fetch=True, merged=True),
    "5. Writer.write (whole transaction)": writer,
}
TICKWIRE = "6. tickwire end to end (python -m ingest)"
COMPARED = "6c. step 6, the compared tree's ingester"
PSQL = "7. psql \\copy CSV (one transaction)"


Cpu = tuple[float | None, float | None]
"""CPU µs per row of an ingester run: the ingester's, the server's (None: not measured)."""


def _one(
    servers: Stack, name: str, data: Load, bench: IngestBench, compare: Path | None
) -> tuple[float, int, int, Cpu]:
    """(seconds, lost, dup, CPU per row) of one step on a fresh database."""
    if name in (TICKWIRE, COMPARED):
        how = How(merged=True) if name == TICKWIRE else How(compare or How().tree, merged=True)
        result = bench.tickwire(name, "limits", data.workload, how=how)
        per_message = data.workload.rows_per_message
        cpu = tuple(
            None if us is None else us / per_message
            for us in (result.ingester_cpu_us, result.server_cpu_us)
        )
        return result.seconds, result.lost, result.dup, (cpu[0], cpu[1])
    with fresh_database(servers.server_url, f"limits_{uuid.uuid4().hex[:8]}") as url:
        checkpoint(servers.server_url)
        server = server_processes(url)
        backends = _quiet(server)
        server_s, client_s = server_cpu_s(server), time.process_time()
        if name == PSQL:
            seconds = psql_csv(url, data, servers.workdir)
        else:
            seconds = asyncio.run(STEPS[name](url, data))
        client_s = time.process_time() - client_s
        _settle(server, backends)
        server_after = server_cpu_s(server)
        rows = asyncio.run(_count(url))
    expected = len(data.rows)
    per_row = 1e6 / expected
    client = None if name == PSQL else client_s * per_row  # psql's CPU is not ours to see
    used = None if server_s is None or server_after is None else (server_after - server_s) * per_row
    return seconds, max(0, expected - rows), max(0, rows - expected), (client, used)


async def _backend(url: str) -> str:
    """The schema's backend as the migrations recorded it: `postgres` or `timescaledb`."""
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SELECT value FROM schema_info WHERE key = 'backend'"))
    finally:
        await conn.close()


def run(
    sizes: Sizes, rounds: int, server_url: str | None, compare: Path | None = None
) -> dict[str, Any]:
    data = load(sizes)
    names = [*STEPS, TICKWIRE, *([COMPARED] if compare else [])]
    if shutil.which("psql"):
        names.append(PSQL)
    lost = dup = 0
    with (
        tempfile.TemporaryDirectory(prefix="tickwire-limits-") as tmp,
        stack(Path(tmp), server_url) as servers,
    ):
        with fresh_database(servers.server_url, f"limits_{uuid.uuid4().hex[:8]}") as url:
            if asyncio.run(_backend(url)) == "timescaledb":
                print("TimescaleDB: steps 4, 4b left out (rollups are continuous aggregates)")
                names.remove(ROLLUP_MERGE)
                names.remove(ROLLUP_DEFER)
        seconds: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[Cpu]] = {name: [] for name in names}
        bench = IngestBench(servers, IngestSettings())
        for number in range(rounds):
            # Rotate the order each round so no step always runs right after the same one.
            for name in names[number % len(names) :] + names[: number % len(names)]:
                took, lo, du, used = _one(servers, name, data, bench, compare)
                seconds[name].append(took)
                cpu[name].append(used)
                lost, dup = lost + lo, dup + du
                rate = len(data.rows) / took
                print(f"round {number + 1}: {name}: {rate:,.0f} rows/s", flush=True)
    fields = _report(data, seconds, lost, dup, sizes, rounds)
    fields |= _cpu_report(cpu)
    return fields


def _report(
    data: Load,
    seconds: dict[str, list[float]],
    lost: int,
    dup: int,
    sizes: Sizes,
    rounds: int,
) -> dict[str, Any]:
    rows = len(data.rows)
    raw = seconds["1. raw binary COPY into telemetry"]
    print()
    print(
        f"{rows:,} telemetry rows in batches of {sizes.batch_rows:,}; {rounds} rounds; rows/s "
        f"median (min–max); ratio to raw COPY in the same round, median (min–max); "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M}Z"
    )
    print(f"{'step':<42}{'rows/s':>10}{'spread':>20}{'ratio':>7}{'spread':>13}")
    fields: dict[str, Any] = {"bench": "limits", "rows": rows, "rounds": rounds}
    for name, took in seconds.items():
        got = sorted(rows / s for s in took)
        ratios = sorted(r / s for r, s in zip(raw, took, strict=True))
        median, ratio = statistics.median(got), statistics.median(ratios)
        spread = f"{got[0]:,.0f}–{got[-1]:,.0f}"
        print(
            f"{name:<42}{median:>10,.0f}{spread:>20}{ratio:>7.2f}"
            f"{f'{ratios[0]:.2f}–{ratios[-1]:.2f}':>13}"
        )
        key = name.split(".")[0]
        fields[f"step{key}_rows_s"] = round(median)
        fields[f"step{key}_ratio"] = round(ratio, 3)
    fields["lost"], fields["dup"] = lost, dup
    return fields


def _cpu_report(cpu: dict[str, list[Cpu]]) -> dict[str, Any]:
    """CPU µs per row, median (min–max) over the rounds: the client's (the bench process for
    steps 1–5, the ingester for 6 and 6c, from its first commit: `bench.ingester.Cpu`) and
    the server's (every process of the embedded server; none for a remote one). Process CPU
    does not count a neighbour's load as the wall clock does: the steadier before/after on a
    shared machine."""
    fields: dict[str, Any] = {}
    measured = {name: runs for name, runs in cpu.items() if any(u[0] is not None for u in runs)}
    if not measured:
        return fields
    print()
    print(f"{'CPU µs per row':<42}{'client':>10}{'spread':>14}"
          f"{'server':>10}{'spread':>14}")  # fmt: skip
    for name, runs in measured.items():
        line = f"{name:<42}"
        for side, label in ((0, "client"), (1, "server")):
            values = sorted(v for v in (u[side] for u in runs) if v is not None)
            if not values:
                line += f"{'–':>10}{'':>14}"
                continue
            median = statistics.median(values)
            line += f"{median:>10.2f}{f'{values[0]:.2f}–{values[-1]:.2f}':>14}"
            fields[f"step{name.split('.')[0]}_{label}_cpu_us_row"] = round(median, 3)
        print(line)
    return fields


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.limits", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a small run, one round")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    parser.add_argument("--messages", type=int, help="100-reading messages (1 000)")
    parser.add_argument("--batch-rows", type=int, help="rows per batch (10 000)")
    parser.add_argument("--server-url", help="use this PostgreSQL server, not an embedded one")
    parser.add_argument(
        "--compare", help="also step 6 with this source tree's ingester (a git worktree)"
    )
    args = parser.parse_args(argv)
    base = QUICK if args.quick else Sizes()
    sizes = Sizes(
        messages=args.messages or base.messages,
        readings=base.readings,
        devices=base.devices,
        batch_rows=args.batch_rows or base.batch_rows,
    )
    setup_logging("bench", "WARNING")
    rounds = args.rounds or (1 if args.quick else 3)
    compare = Path(args.compare).resolve() if args.compare else None
    fields = run(sizes, max(1, rounds), args.server_url, compare)
    print(json_line(fields), flush=True)
    return 1 if fields["lost"] or fields["dup"] else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
