"""History latency: downsampled telemetry through the real HTTP API, rollups against raw.

`python -m bench.history [--quick] [--days D] [--samples N] [--server-url URL]`

One device reading one metric at 1 Hz for `--days` days (30: 2 592 000 rows) is written with
`Writer.backfill`, a day per call (rollups maintained as by the ingester; load time measured,
then VACUUM ANALYZE). The API runs as `python -m api` (uvicorn on 127.0.0.1) in a child
process; one client asks, one request at a time, for ranges from 1 minute to 30 days at
`points=1000`, each range `--samples` times at random offsets in the data (not bucket-aligned):

- auto: `source=auto`, the server's choice (raw rows + MinMaxLTTB, or rollups + raw edges);
- raw: the same requests with `source=raw`: the same buckets computed from raw rows only
  (for short ranges both read raw rows; the ratio shows what the rollups buy on long ones).
  Raw samples stop after `--raw-budget` seconds per range (at least 3).

Latency is the client's: request sent to body received, p50 and p99 (nearest rank). Both
answers of the first sample of each range are compared (same buckets, same values), so the
speed-up is not bought with different numbers. Exit status 1 when they differ.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np

from bench.stack import fresh_database, stack
from ingest.writer import Writer
from tests.process_support import api_process
from tickwire.logs import setup_logging

log = logging.getLogger("bench.history")

DEVICE, METRIC = "bench-device", "temperature"
RANGES = {
    "1m": timedelta(minutes=1),
    "10m": timedelta(minutes=10),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
POINTS = 1000
TARGET_P50_MS = 50.0
#: The data end on a whole day, well in the past: results do not depend on today's date.
DATA_END = datetime(2024, 6, 3, tzinfo=UTC)


async def load(url: str, days: int) -> dict[str, float]:
    """Write `days` of 1 Hz readings a day per backfill; return load and vacuum seconds."""
    conn = await asyncpg.connect(url)
    try:
        backend = await conn.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
        await conn.execute("INSERT INTO devices (device_id, name) VALUES ($1, $1)", DEVICE)
        writer = Writer(conn, backend, auto_register=True)
        await writer.prepare()
        rng = np.random.default_rng(42)
        first = DATA_END - timedelta(days=days)
        loading = 0.0
        for day in range(days):
            rows = _day(first + timedelta(days=day), rng)
            started = time.perf_counter()
            await writer.backfill([], rows)
            loading += time.perf_counter() - started
            log.info("day %d of %d written (%.1fs so far)", day + 1, days, loading)
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        return {"load_s": loading, "vacuum_analyze_s": time.perf_counter() - started}
    finally:
        await conn.close()


def _day(start: datetime, rng: np.random.Generator) -> list[tuple[datetime, str, str, float]]:
    """A day of 1 Hz readings: a daily cycle, noise and rare spikes."""
    seconds = np.arange(86_400)
    values = 20 + 5 * np.sin(2 * np.pi * seconds / 86_400) + rng.normal(0, 0.3, seconds.size)
    values += (rng.random(seconds.size) < 1e-4) * 15
    step = timedelta(seconds=1)
    return [(start + i * step, DEVICE, METRIC, v) for i, v in enumerate(values.tolist())]


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def timed(client: httpx.Client, start: datetime, span: timedelta, source: str) -> tuple[float, Any]:
    params: dict[str, str | int] = {
        "metric": METRIC,
        "start": start.isoformat(),
        "end": (start + span).isoformat(),
        "points": POINTS,
        "source": source,
    }
    started = time.perf_counter()
    response = client.get(f"/api/devices/{DEVICE}/telemetry", params=params)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, response.json()


def auth_floor(client: httpx.Client, samples: int) -> float:
    """p50 of `GET /users/me`: what any authenticated request costs (HTTP, JWT, user row)."""
    client.get("/users/me").raise_for_status()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        client.get("/users/me").raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50)


def same_answer(auto: dict[str, Any], raw: dict[str, Any]) -> bool:
    """Same interval, same points, values equal within float rounding."""
    if auto["interval"] != raw["interval"] or len(auto["series"]) != len(raw["series"]):
        return False
    for a_series, r_series in zip(auto["series"], raw["series"], strict=True):
        if len(a_series["points"]) != len(r_series["points"]):
            return False
        for a, r in zip(a_series["points"], r_series["points"], strict=True):
            if a["time"] != r["time"] or a.get("count") != r.get("count"):
                return False
            for key in ("value", "min", "max", "last"):
                if not math.isclose(a.get(key) or 0, r.get(key) or 0, rel_tol=1e-9):
                    return False
    return True


def measure(
    client: httpx.Client, name: str, days: int, samples: int, raw_budget: float
) -> dict[str, Any]:
    """Every sample of one range, auto then raw; the range's row of the table."""
    span = RANGES[name]
    first = DATA_END - timedelta(days=days)
    room = max((DATA_END - first - span).total_seconds(), 60.0)
    rng = random.Random(name)
    starts = [first + timedelta(seconds=rng.uniform(0, room)) for _ in range(samples)]
    _, auto_body = timed(client, starts[0], span, "auto")  # warm-up, and the answers compared
    _, raw_body = timed(client, starts[0], span, "raw")
    auto = [timed(client, at, span, "auto")[0] for at in starts]
    raw: list[float] = []
    spent = time.monotonic()
    for at in starts:
        raw.append(timed(client, at, span, "raw")[0])
        if len(raw) >= 3 and time.monotonic() - spent > raw_budget:
            break
    series = auto_body["series"][0] if auto_body["series"] else {"method": "-", "points": []}
    return {
        "range": name,
        "source": auto_body["source"],
        "interval": auto_body["interval"],
        "method": series["method"],
        "points": len(series["points"]),
        "samples": len(auto),
        "raw_samples": len(raw),
        "p50_ms": percentile(auto, 50),
        "p99_ms": percentile(auto, 99),
        "raw_p50_ms": percentile(raw, 50),
        "raw_p99_ms": percentile(raw, 99),
        "ratio": percentile(raw, 50) / percentile(auto, 50),
        "same_values": same_answer(auto_body, raw_body),
    }


_HEADER = (
    f"{'range':<6}{'source':>14}{'interval':>9}{'method':>12}{'points':>7}{'n':>5}"
    f"{'p50 ms':>9}{'p99 ms':>9}{'raw n':>6}{'raw p50':>9}{'raw p99':>9}{'raw/auto':>9}"
    f"{'same':>6}"
)


def render(rows: list[dict[str, Any]]) -> str:
    lines = [_HEADER, "-" * len(_HEADER)]
    for r in rows:
        lines.append(
            f"{r['range']:<6}{r['source']:>14}{r['interval'] or '-':>9}{r['method']:>12}"
            f"{r['points']:>7}{r['samples']:>5}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
            f"{r['raw_samples']:>6}{r['raw_p50_ms']:>9.1f}{r['raw_p99_ms']:>9.1f}"
            f"{r['ratio']:>8.1f}x{'yes' if r['same_values'] else 'NO':>6}"
        )
    return "\n".join(lines)


def run(days: int, samples: int, raw_budget: float, server_url: str | None) -> dict[str, Any]:
    """Load, start the API, measure every range that fits the data; print; return the JSON."""
    names = [name for name, span in RANGES.items() if span <= timedelta(days=days)]
    with (
        tempfile.TemporaryDirectory(prefix="tickwire-bench-") as tmp,
        stack(Path(tmp), server_url) as servers,
        fresh_database(servers.server_url, f"history_{uuid.uuid4().hex[:8]}") as url,
    ):
        loaded = asyncio.run(load(url, days))
        with (
            api_process(url, Path(tmp), servers.broker_url) as (base_url, _, token),
            httpx.Client(base_url=base_url, timeout=120) as client,
        ):
            client.headers["Authorization"] = f"Bearer {token}"
            loaded["users_me_p50_ms"] = auth_floor(client, samples)
            rows = [measure(client, name, days, samples, raw_budget) for name in names]
    return summary(rows, loaded, days * 86_400)


def summary(rows: list[dict[str, Any]], loaded: dict[str, float], total: int) -> dict[str, Any]:
    """Print the table and the target; return the JSON line's fields."""
    print(render(rows))
    worst = max(r["p50_ms"] for r in rows)
    load_s, floor_ms = loaded["load_s"], loaded["users_me_p50_ms"]
    print(
        f"\nloaded {total:,} rows in {load_s:.1f}s ({total / load_s:,.0f} rows/s, rollups "
        f"included), VACUUM ANALYZE {loaded['vacuum_analyze_s']:.1f}s\n"
        f"GET /users/me p50 {floor_ms:.1f} ms (the floor of any authenticated request)\n"
        f"worst p50 {worst:.1f} ms   target < {TARGET_P50_MS:.0f} ms for every range   "
        f"{'met' if worst < TARGET_P50_MS else 'MISSED'}"
    )
    return {
        "bench": "history",
        "rows": total,
        "points": POINTS,
        "load_s": round(load_s, 1),
        "load_rows_s": round(total / load_s),
        "vacuum_analyze_s": round(loaded["vacuum_analyze_s"], 1),
        "users_me_p50_ms": round(floor_ms, 1),
        "worst_p50_ms": round(worst, 1),
        "target_met": worst < TARGET_P50_MS,
        "same_values": all(r["same_values"] for r in rows),
        "ranges": {
            r["range"]: {k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}
            for r in rows
        },
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.history", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--days", type=int, help="days of 1 Hz data (default 30)")
    parser.add_argument("--samples", type=int, help="requests per range (default 40)")
    parser.add_argument("--raw-budget", type=float, default=15.0, help="seconds of raw samples")
    parser.add_argument("--quick", action="store_true", help="2 days, 10 samples: CI smoke")
    parser.add_argument("--server-url", help="use this PostgreSQL server, not an embedded one")
    args = parser.parse_args(argv)
    days = args.days or (2 if args.quick else 30)
    samples = args.samples or (10 if args.quick else 40)
    budget = min(args.raw_budget, 3.0) if args.quick else args.raw_budget
    setup_logging("bench", "INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    fields = run(days, max(1, samples), budget, args.server_url)
    print(json.dumps(fields, separators=(",", ":")), flush=True)
    return 0 if fields["same_values"] else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
