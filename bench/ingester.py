"""The tickwire ingester as the bench runs it: its real `python -m ingest`, in a child process.

The child is configured only through `TICKWIRE_*` variables (anything else of the bench's
environment, batching knobs included, passes through). Progress is read from its own
`ingest_status` row, which every batch updates in the transaction that commits its rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import asyncpg
import psutil
import psycopg

from ingest.merger import LOCK as MERGE_LOCK
from tests.process_support import REPO, postmaster, service

INSTANCE: Final = "bench"
_POLL_S: Final = 0.02


@dataclass(frozen=True, slots=True)
class IngestRun:
    """Wall-clock start of the ingester's `run()` and the moment all rows were seen committed."""

    started: float
    finished: float
    committed_rows: int
    peak_rss_mb: float
    exit_code: int | None
    cpu: Cpu | None = None
    """CPU seconds spent over the run's committed rows (None: not measured)."""

    @property
    def seconds(self) -> float:
        return self.finished - self.started


@dataclass(frozen=True, slots=True)
class Cpu:
    """CPU seconds of the ingester process and of the PostgreSQL server (postmaster and every
    backend, ended ones included) from the first commit seen to the end of the run (rows
    committed and, when timed so, merged), and the rows committed meanwhile. Process CPU time
    does not count a neighbour's load, unlike the wall clock: on a shared machine it is the
    steadier measure of the work a row costs."""

    ingester_s: float
    server_s: float | None
    rows: int

    def per_row_us(self, seconds: float | None) -> float | None:
        if seconds is None or self.rows <= 0:
            return None
        return seconds / self.rows * 1e6


@dataclass(frozen=True, slots=True)
class How:
    """Which source tree's ingester runs, and whether its clock runs until the rollups hold
    every committed row: `merged` merges the rollup partials still appended (plain
    PostgreSQL, `ingest.merger.merge`) once the rows are committed, inside the clock; so the
    work the ingester puts off is timed, not its merger's sleep."""

    tree: Path = REPO
    merged: bool = False


AS_IS: Final = How()
_STALL_S: Final = 15.0


def run_ingester(
    database_url: str,
    broker_url: str,
    client_id: str,
    expected_rows: int,
    log_path: Path,
    ca_file: Path | None = None,
    how: How = AS_IS,
) -> IngestRun:
    """Run `python -m ingest` until `expected_rows` are committed (or nothing moves for
    `_STALL_S`), then stop it with SIGTERM as a service manager would. (`ca_file`: the CA of
    an `mqtts://` broker_url's certificate.)"""
    env = dict(
        TICKWIRE_DATABASE_URL=database_url,
        TICKWIRE_MQTT_URL=broker_url,
        TICKWIRE_MQTT_CA_FILE=str(ca_file or ""),
        TICKWIRE_MQTT_PROTOCOL="5",
        TICKWIRE_INGEST_CLIENT_ID=client_id,
        TICKWIRE_INGEST_INSTANCE=INSTANCE,
        TICKWIRE_DATA_DIR=str(log_path.parent),
    )
    server = server_processes(database_url)
    statements = _merge_statements(how.tree) if how.merged else ()
    with service("ingest", env, log_path, cwd=how.tree) as child:
        rss = PeakRss(child.pid)
        rss.start()
        meter = CpuMeter(child.pid, server)
        try:
            started, finished, committed = _watch(
                database_url, child, expected_rows, _STALL_S, meter
            )
            ingester_s = meter.ingester_s()
            if how.merged and committed >= expected_rows:
                finished = asyncio.run(_merged(database_url, statements))
            cpu = meter.done(ingester_s, committed)
        finally:
            peak = rss.stop()
    return IngestRun(started, finished, committed, peak / 2**20, child.returncode, cpu)


class CpuMeter:
    """`Cpu` of one run: `first` is called with the rows committed when the ingester's first
    commit is seen (its start-up, imports and connects are left out), `done` at the end."""

    def __init__(self, pid: int, server: psutil.Process | None) -> None:
        self._process = psutil.Process(pid)
        self._server = server
        self._start: tuple[float, float | None, int] | None = None

    def first(self, committed: int) -> None:
        if self._start is None:
            self._start = (_cpu_s(self._process), server_cpu_s(self._server), committed)

    def ingester_s(self) -> float:
        return _cpu_s(self._process)

    def done(self, ingester_s: float, committed: int) -> Cpu | None:
        """None when the first commit seen already held half the rows or more (a loaded
        machine's few big batches): too little left to measure."""
        if self._start is None or self._start[2] * 2 >= committed:
            return None
        ingester0, server0, committed0 = self._start
        server1 = server_cpu_s(self._server)
        server = None if server0 is None or server1 is None else server1 - server0
        return Cpu(ingester_s - ingester0, server, committed - committed0)


def server_processes(database_url: str) -> psutil.Process | None:
    """The postmaster of the database's server when it runs on this machine and its data
    directory is readable (an embedded server: yes); else None (no server CPU reported)."""
    with contextlib.suppress(psycopg.Error, OSError):
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute("SELECT current_setting('data_directory')").fetchone()
        if row is not None:
            return postmaster(Path(row[0]))
    return None


def server_cpu_s(postmaster_process: psutil.Process | None) -> float | None:
    """User + system CPU seconds of the server so far: the postmaster, its live children and
    those it has reaped (the kernel adds an ended child's time to its parent's)."""
    if postmaster_process is None:
        return None
    try:
        times = postmaster_process.cpu_times()
        total: float = times.user + times.system + times.children_user + times.children_system
        children = postmaster_process.children()
    except psutil.Error:
        return None
    for child in children:
        with contextlib.suppress(psutil.Error):
            total += _cpu_s(child)
    return total


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _watch(
    database_url: str,
    child: subprocess.Popen[bytes],
    expected_rows: int,
    stall_s: float,
    meter: CpuMeter,
) -> tuple[float, float, int]:
    """Poll the ingester's status row; return (started, finished, committed rows)."""
    started, committed, moved = 0.0, 0, time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as conn:
        while child.poll() is None:
            row = conn.execute(
                "SELECT extract(epoch FROM started_at)::float8, committed_rows"
                " FROM ingest_status WHERE instance = %s",
                (INSTANCE,),
            ).fetchone()
            now = time.time()
            if row is not None:
                started = row[0]
                if row[1] != committed:
                    committed, moved = row[1], time.monotonic()
                    meter.first(committed)
                if committed >= expected_rows:
                    return started, now, committed
            if time.monotonic() - moved > stall_s:
                break
            time.sleep(_POLL_S)
    if child.poll() is not None and child.returncode != 0:
        raise RuntimeError(f"the ingester exited with {child.returncode}")
    return started or time.time(), time.time(), committed


@functools.cache
def _merge_statements(tree: Path) -> tuple[str, ...]:
    """The rollup merge statements of `tree`'s merger (`ingest.merger`), so that a compared
    tree's partials are merged by its own SQL; asked in a child process (outside the clock)."""
    code = (
        "import json; from ingest.merger import _STATEMENTS as s; "
        "print(json.dumps(list(s.values())))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, check=True, capture_output=True, text=True
    )
    return tuple(json.loads(out.stdout))


async def _merged(database_url: str, statements: tuple[str, ...]) -> float:
    """Plain PostgreSQL: merge what rollup partials are left with `statements`, as
    `ingest.merger.merge` does (waiting for a merge under way); return when done."""
    conn = await asyncpg.connect(database_url)
    try:
        if await conn.fetchval("SELECT value FROM schema_info WHERE key = 'backend'") == "postgres":
            for statement in statements:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", MERGE_LOCK)
                    await conn.fetchval(statement)
        return time.time()
    finally:
        await conn.close()


class PeakRss:
    """Samples the resident set of a process and its children; also reads the kernel's
    high-water mark (VmHWM) of the process itself at the end, so no peak slips between
    samples. Children are looked up once a second: that scans /proc, too costly at 50 Hz."""

    def __init__(self, pid: int, interval: float = 0.02, rescan_s: float = 1.0) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._rescan_s = rescan_s
        self._stop = threading.Event()
        self._peak = 0
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> int:
        """Stop sampling; return the peak in bytes."""
        self._peak = max(self._peak, _high_water_mark(self._process.pid))
        self._stop.set()
        self._thread.join()
        return self._peak

    def _sample(self) -> None:
        family, scanned = [self._process], 0.0
        while not self._stop.wait(self._interval):
            try:
                if time.monotonic() - scanned > self._rescan_s:
                    family = [self._process, *self._process.children(recursive=True)]
                    scanned = time.monotonic()
                total = sum(p.memory_info().rss for p in family)
            except psutil.NoSuchProcess:
                if not self._process.is_running():
                    return
                scanned = 0.0  # a child ended: look again
                continue
            except psutil.Error:
                return
            self._peak = max(self._peak, total)


def _high_water_mark(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0
