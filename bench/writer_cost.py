"""What a batch's transaction costs in CPU, this tree's writer against another tree's.

`python -m bench.writer_cost --compare DIR [--rounds R] [--server-url URL]`

`bench.limits`' step 5 (`Writer.write` on parsed 10 000-row batches, whole transactions,
partials merged at the end) run by each tree in its own process, interleaved round by round,
each on a fresh database (migrated by that tree). Besides the wall rate it reports the CPU
time per batch of the server backend (psutil, user + system) and of the client process
(`time.process_time`): on a shared machine the neighbours' load moves wall time by 2–3× and
these far less. Both include each connection's one-time work (type introspection of a
statement's first use) spread over the 20 batches.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.report import json_line
from bench.stack import stack
from tickwire.logs import setup_logging

_CHILD = r"""
import asyncio, sys, time, uuid
import asyncpg, psutil
from bench.limits import Sizes, load
from bench.stack import checkpoint, fresh_database
from ingest.batch import Batch
from ingest.merger import merge
from ingest.settings import IngestSettings
from ingest.stats import Stats
from ingest.writer import Writer

async def run(url, data):
    conn = await asyncpg.connect(url)
    backend = await conn.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    server = psutil.Process(await conn.fetchval("SELECT pg_backend_pid()"))
    writer = Writer(conn, backend, auto_register=True, defer_rollups=True)
    await writer.prepare()
    limits, batches = IngestSettings().limits(), []
    for messages in data.messages:
        batch = Batch()
        for message in messages:
            batch.add(message, limits)
        batches.append(batch)
    s0, c0, t0 = sum(server.cpu_times()[:2]), time.process_time(), time.perf_counter()
    for batch in batches:
        await writer.write(batch, Stats(), "cost")
    if writer.defer_rollups:
        await merge(conn)
    t1, c1, s1 = time.perf_counter(), time.process_time(), sum(server.cpu_times()[:2])
    await conn.close()
    n = len(batches)
    print(len(data.rows) / (t1 - t0), (s1 - s0) / n * 1000, (c1 - c0) / n * 1000)

data = load(Sizes())
with fresh_database(sys.argv[1], f"cost_{uuid.uuid4().hex[:8]}") as url:
    checkpoint(sys.argv[1])
    asyncio.run(run(url, data))
"""

_REPO = Path(__file__).resolve().parent.parent
_FIELDS = ("rows_s", "server_ms", "client_ms")


def _one(tree: Path, server_url: str) -> tuple[float, ...]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, server_url],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    )
    return tuple(float(x) for x in out.stdout.split()[-3:])


def run(rounds: int, server_url: str | None, compare: Path) -> dict[str, object]:
    trees = {"this tree": _REPO, "compared": compare}
    got: dict[str, list[tuple[float, ...]]] = {name: [] for name in trees}
    with (
        tempfile.TemporaryDirectory(prefix="tickwire-cost-") as tmp,
        stack(Path(tmp), server_url) as servers,
    ):
        for number in range(rounds):
            names = list(trees) if number % 2 == 0 else list(trees)[::-1]
            for name in names:
                got[name].append(_one(trees[name], servers.server_url))
                rate, server, client = got[name][-1]
                print(
                    f"round {number + 1}: {name}: {rate:,.0f} rows/s, server {server:.1f} ms,"
                    f" client {client:.1f} ms per batch",
                    flush=True,
                )
    fields: dict[str, object] = {"bench": "writer_cost", "rounds": rounds}
    print(f"\n{'':<12}{'rows/s':>26}{'server CPU ms/batch':>26}{'client CPU ms/batch':>26}")
    for name, results in got.items():
        cells = []
        for field, column in zip(_FIELDS, zip(*results, strict=True), strict=True):
            median = statistics.median(column)
            cells.append(f"{median:,.1f} ({min(column):,.1f}–{max(column):,.1f})")
            fields[f"{'this' if name == 'this tree' else 'compared'}_{field}"] = round(median, 1)
        print(f"{name:<12}" + "".join(f"{cell:>26}" for cell in cells))
    return fields


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.writer_cost", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--compare", required=True, help="the other source tree")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--server-url", help="use this PostgreSQL server, not an embedded one")
    args = parser.parse_args(argv)
    setup_logging("bench", "WARNING")
    fields = run(max(1, args.rounds), args.server_url, Path(args.compare).resolve())
    print(json_line(fields), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
