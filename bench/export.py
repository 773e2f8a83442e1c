"""Export throughput: rows/s of each format through the real HTTP API, and its memory.

`python -m bench.export [--quick] [--days N] [--rounds R] [--server-url URL]`

One device reading once a second for `--days` (30: 2 592 000 rows; 1 with `--quick`) is
inserted by the server itself (`INSERT … SELECT generate_series`: export reads raw rows only,
so no rollups are built). The API runs as in production, `python -m api` in a child process
(uvicorn, the asyncpg pool), with an admin ensured first. Each format is exported by an HTTP
client in this process that counts the bytes and rows it receives; the time runs from the
request to the last byte, so it includes PostgreSQL rendering, the API passing chunks on and
the client reading them (all on one machine). Formats are interleaved round by round; the
table shows each format's median round.

RSS growth: the API process's peak resident set during an export (sampled every 20 ms, and
the kernel's VmHWM after resetting it through /proc/PID/clear_refs) minus its RSS just before.

Exit status 1 when an export did not return exactly the rows in the database; the targets
(CSV ≥ 300 000 rows/s, RSS growth < 50 MB) are reported, not enforced.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import httpx
import psutil
import psycopg

from bench.ingester import PeakRss
from bench.report import json_line
from bench.stack import fresh_database
from devstack.embedded_pg import embedded_postgres
from tests.process_support import api_process
from tickwire.logs import setup_logging

log = logging.getLogger("bench.export")

DEVICE: Final = "bench-1"
START: Final = datetime(2026, 1, 1, tzinfo=UTC)
FORMATS: Final = ("csv", "ndjson", "xml", "json")
#: Lines of a body that are not rows: CSV header; JSON `[` and `]`; XML declaration and root.
_EXTRA_LINES: Final = {"csv": 1, "ndjson": 0, "xml": 3, "json": 2}
CSV_TARGET_ROWS_S: Final = 300_000
RSS_TARGET_MB: Final = 50


@dataclass(frozen=True, slots=True)
class Export:
    """One export as the client saw it, and the API process's memory meanwhile."""

    fmt: str
    rows: int
    size: int
    seconds: float
    first_byte_s: float
    rss_growth_mb: float

    @property
    def rows_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def load(url: str, days: int) -> int:
    """Insert `days` of 1 Hz readings of one device; return the row count."""
    rows = days * 86_400
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO devices (device_id, name) VALUES (%s, %s)", (DEVICE, DEVICE))
        conn.execute(
            "INSERT INTO telemetry (time, device_id, metric, value)"
            " SELECT %s + make_interval(secs => s), %s, 'temperature',"
            "        20 + 5 * sin(s / 3600.0) + random()"
            " FROM generate_series(0, %s - 1) AS s",
            (START, DEVICE, rows),
        )
        conn.execute("VACUUM ANALYZE telemetry")
    log.info("loaded %d rows in %.1fs", rows, time.perf_counter() - started)
    return rows


def measure(base: str, pid: int, token: str, fmt: str, days: int) -> Export:
    """Export the whole range in `fmt`; count what arrives and the API's memory meanwhile."""
    process = psutil.Process(pid)
    _reset_high_water_mark(pid)
    before = process.memory_info().rss
    rss = PeakRss(pid)
    rss.start()
    params = {
        "device_id": DEVICE,
        "format": fmt,
        "start": START.isoformat(),
        "end": (START + timedelta(days=days)).isoformat(),
    }
    lines = size = 0
    first_byte = 0.0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
        started = time.perf_counter()
        with client.stream("GET", "/api/export/telemetry", params=params) as response:
            response.raise_for_status()
            for chunk in response.iter_raw(1 << 20):
                if not size:
                    first_byte = time.perf_counter() - started
                lines += chunk.count(b"\n")
                size += len(chunk)
        seconds = time.perf_counter() - started
    peak = rss.stop()
    rows = lines - _EXTRA_LINES[fmt]
    return Export(fmt, rows, size, seconds, first_byte, max(0, peak - before) / 2**20)


def _reset_high_water_mark(pid: int) -> None:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0), so it measures this export only."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError as exc:
        log.warning("cannot reset VmHWM (%s): the peak may include the API's start", exc)


def run(days: int, rounds: int, server_url: str | None) -> tuple[list[Export], int]:
    """Every format `rounds` times, interleaved; return each format's median and the rows."""
    done: dict[str, list[Export]] = {fmt: [] for fmt in FORMATS}
    with tempfile.TemporaryDirectory(prefix="tickwire-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        if server_url is None:
            log.info("starting an embedded PostgreSQL")
            server_url = stack.enter_context(embedded_postgres(workdir / "pg", "postgres"))
        url = stack.enter_context(fresh_database(server_url, f"export_{uuid.uuid4().hex[:8]}"))
        expected = load(url, days)
        base, pid, token = stack.enter_context(api_process(url, workdir))
        for number in range(1, rounds + 1):
            for fmt in FORMATS:
                result = measure(base, pid, token, fmt, days)
                log.info(
                    "round %d %s: %.0f rows/s, first byte %.3fs, RSS +%.1f MB",
                    *(number, fmt, result.rows_s, result.first_byte_s, result.rss_growth_mb),
                )
                done[fmt].append(result)
    return [_median(results) for results in done.values()], expected


def _median(rounds: list[Export]) -> Export:
    """The median round by time, with the highest RSS growth of all rounds."""
    middle = sorted(rounds, key=lambda r: r.seconds)[(len(rounds) - 1) // 2]
    return replace(middle, rss_growth_mb=max(r.rss_growth_mb for r in rounds))


def table(results: list[Export]) -> str:
    header = (
        f"{'format':<8}{'rows':>11}{'MB':>8}{'seconds':>9}{'rows/s':>11}"
        f"{'MB/s':>8}{'1st byte':>10}{'RSS growth':>12}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.fmt:<8}{r.rows:>11,}{r.size / 2**20:>8.0f}{r.seconds:>9.2f}{r.rows_s:>11,.0f}"
            f"{r.size / 2**20 / r.seconds:>8.0f}{r.first_byte_s:>9.3f}s{r.rss_growth_mb:>9.1f} MB"
        )
    return "\n".join(lines).replace(",", " ")


def summary(results: list[Export], expected: int) -> dict[str, object]:
    by = {r.fmt: r for r in results}
    growth = max(r.rss_growth_mb for r in results)
    fields: dict[str, object] = {"bench": "export", "rows": expected}
    fields.update({f"{r.fmt}_rows_s": round(r.rows_s) for r in results})
    fields.update(
        rss_growth_mb=round(growth, 1),
        csv_first_byte_s=round(by["csv"].first_byte_s, 3),
        rows_ok=all(r.rows == expected for r in results),
        csv_target_met=by["csv"].rows_s >= CSV_TARGET_ROWS_S,
        rss_target_met=growth < RSS_TARGET_MB,
    )
    return fields


def targets(fields: dict[str, object]) -> str:
    rows = (
        ("CSV rows/s", f"{fields['csv_rows_s']:,}", f"≥ {CSV_TARGET_ROWS_S:,}", "csv_target_met"),
        ("RSS growth", f"{fields['rss_growth_mb']} MB", f"< {RSS_TARGET_MB} MB", "rss_target_met"),
    )
    return "\n".join(
        f"{name:<12}{shown:>12}   target {wanted:<10} {'met' if fields[key] else 'MISSED'}"
        for name, shown, wanted, key in rows
    ).replace(",", " ")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.export", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--days", type=int, help="days of 1 Hz readings (default 30)")
    parser.add_argument("--rounds", type=int, help="rounds of every format (default 3)")
    parser.add_argument("--quick", action="store_true", help="one day, one round: CI smoke")
    parser.add_argument("--server-url", help="use this PostgreSQL server, not an embedded one")
    args = parser.parse_args(argv)
    setup_logging("bench", "INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    days = args.days or (1 if args.quick else 30)
    rounds = max(1, args.rounds or (1 if args.quick else 3))
    results, expected = run(days, rounds, args.server_url)
    fields = summary(results, expected)
    print(table(results))
    if rounds > 1:
        print(f"(median of {rounds} interleaved rounds; RSS growth is the highest)")
    print(targets(fields))
    print(json_line(fields), flush=True)
    return 0 if fields["rows_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
