"""Fleet grid load: one telemetry history per device (before) against the latest route (after).

`python -m bench.fleet [--quick] [--devices N] [--hours H] [--samples N] [--server-url URL]`

`--devices` devices (50) with three metrics each (temperature, humidity and a boolean `door`
stored as 0/1) at 1 Hz for `--hours` hours (2: 1 080 000 rows) are written with
`Writer.backfill` (rollups maintained as by the ingester), then VACUUM ANALYZE. The API runs as
`python -m api` in a child process. What the dashboard's fleet grid asks to draw its cards,
as it asks it (all requests of one load at once, on one connection pool), `--samples` times:

- before: `GET /api/devices` and, per device, `GET /api/devices/{id}/telemetry?start&end&
  points=60` over the frame's range (5 m and 1 h, the ranges the grid opens with);
- after: `GET /api/devices` and `GET /api/devices/latest`: two requests whatever the size.

Also single requests: `GET /api/devices/latest` for one device, `GET /api/telemetry` with
`limit` 100 and 10 000. Latency is the client's, request sent to last body received; p50 and
p99 (nearest rank). The answers are checked: the latest values equal the newest rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
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

log = logging.getLogger("bench.fleet")

#: The data end well in the past: results do not depend on today's date.
DATA_END = datetime(2024, 6, 3, tzinfo=UTC)
METRICS = ("door", "humidity", "temperature")


def device_ids(count: int) -> list[str]:
    return [f"fleet-{i:03d}" for i in range(count)]


async def load(url: str, devices: int, hours: int) -> dict[str, float]:
    """Write the fleet's readings, an hour of every device per backfill; load and vacuum s."""
    conn = await asyncpg.connect(url)
    try:
        backend = await conn.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
        ids = device_ids(devices)
        await conn.executemany(
            "INSERT INTO devices (device_id, name, status, last_seen)"
            " VALUES ($1, $1, 'ONLINE', $2)",
            [(d, DATA_END) for d in ids],
        )
        writer = Writer(conn, backend, auto_register=True)
        await writer.prepare()
        rng = np.random.default_rng(14)
        loading = 0.0
        for hour in range(hours):
            start = DATA_END - timedelta(hours=hours - hour)
            rows = [row for d in ids for row in _hour(d, start, rng)]
            started = time.perf_counter()
            await writer.backfill([], rows)
            loading += time.perf_counter() - started
            log.info("hour %d of %d written (%.1fs so far)", hour + 1, hours, loading)
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        return {"load_s": loading, "vacuum_analyze_s": time.perf_counter() - started}
    finally:
        await conn.close()


def _hour(device: str, start: datetime, rng: np.random.Generator) -> list[Any]:
    seconds = np.arange(3600)
    temperature = (20 + rng.normal(0, 0.3, seconds.size)).tolist()
    humidity = (45 + rng.normal(0, 1.0, seconds.size)).tolist()
    door = (rng.random(seconds.size) < 0.1).astype(float).tolist()
    step = timedelta(seconds=1)
    rows = []
    for i in range(seconds.size):
        at = start + i * step
        rows += [(at, device, "temperature", temperature[i]), (at, device, "humidity", humidity[i])]
        rows.append((at, device, "door", door[i]))
    return rows


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def _get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    response.raise_for_status()
    return response.json()


def grid_before(span: timedelta) -> Callable[[httpx.AsyncClient], Awaitable[int]]:
    """The grid as it loaded before: the devices, then one history per device at once."""
    window = {"start": (DATA_END - span).isoformat(), "end": DATA_END.isoformat(), "points": 60}

    async def load_grid(client: httpx.AsyncClient) -> int:
        page = await _get(client, "/api/devices", limit=1000)
        await asyncio.gather(
            *(
                _get(client, f"/api/devices/{d['device_id']}/telemetry", **window)
                for d in page["items"]
            )
        )
        return 1 + len(page["items"])

    return load_grid


async def grid_after(client: httpx.AsyncClient) -> int:
    """The grid as it loads now: the devices and every device's latest values, at once."""
    await asyncio.gather(
        _get(client, "/api/devices", limit=1000), _get(client, "/api/devices/latest")
    )
    return 2


def single(path: str, **params: Any) -> Callable[[httpx.AsyncClient], Awaitable[int]]:
    async def one(client: httpx.AsyncClient) -> int:
        await _get(client, path, **params)
        return 1

    return one


async def measure(
    client: httpx.AsyncClient,
    name: str,
    call: Callable[[httpx.AsyncClient], Awaitable[int]],
    n: int,
) -> dict[str, Any]:
    requests = await call(client)  # warm-up
    times = []
    for _ in range(n):
        started = time.perf_counter()
        await call(client)
        times.append((time.perf_counter() - started) * 1000)
    return {
        "case": name,
        "requests": requests,
        "samples": n,
        "p50_ms": percentile(times, 50),
        "p99_ms": percentile(times, 99),
    }


async def correct(client: httpx.AsyncClient, url: str) -> bool:
    """The latest values equal the newest raw rows of every device and metric."""
    body = await _get(client, "/api/devices/latest")
    shown = {
        (d["device_id"], m): (v["time"], v["value"])
        for d in body["items"]
        for m, v in d["values"].items()
    }
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT ON (device_id, metric) device_id, metric, time, value"
            " FROM telemetry ORDER BY device_id, metric, time DESC"
        )
    finally:
        await conn.close()
    newest = {
        (r["device_id"], r["metric"]): (r["time"].isoformat().replace("+00:00", "Z"), r["value"])
        for r in rows
    }
    return shown == newest


async def measure_all(base_url: str, token: str, url: str, devices: int, n: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=120, limits=limits
    ) as client:
        first = device_ids(devices)[0]
        cases = [
            ("grid before, 5m range", grid_before(timedelta(minutes=5))),
            ("grid before, 1h range", grid_before(timedelta(hours=1))),
            ("grid after (latest)", grid_after),
            ("latest, one device", single("/api/devices/latest", device_id=first)),
            ("telemetry limit=100", single("/api/telemetry", device_id=first, limit=100)),
            ("telemetry limit=10000", single("/api/telemetry", device_id=first, limit=10_000)),
        ]
        rows = [await measure(client, name, call, n) for name, call in cases]
        return {"rows": rows, "correct": await correct(client, url)}


_HEADER = f"{'case':<24}{'requests':>9}{'n':>5}{'p50 ms':>10}{'p99 ms':>10}"


def render(rows: list[dict[str, Any]]) -> str:
    lines = [_HEADER, "-" * len(_HEADER)]
    for r in rows:
        lines.append(
            f"{r['case']:<24}{r['requests']:>9}{r['samples']:>5}"
            f"{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}"
        )
    return "\n".join(lines)


def run(devices: int, hours: int, samples: int, server_url: str | None) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="tickwire-bench-") as tmp,
        stack(Path(tmp), server_url) as servers,
        fresh_database(servers.server_url, f"fleet_{uuid.uuid4().hex[:8]}") as url,
    ):
        loaded = asyncio.run(load(url, devices, hours))
        with api_process(url, Path(tmp), servers.broker_url) as (base_url, _, token):
            measured = asyncio.run(measure_all(base_url, token, url, devices, samples))
    rows = measured["rows"]
    by_case = {r["case"]: r for r in rows}
    after = by_case["grid after (latest)"]["p50_ms"]
    ratios = {
        span: by_case[f"grid before, {span} range"]["p50_ms"] / after for span in ("5m", "1h")
    }
    total = devices * len(METRICS) * hours * 3600
    print(render(rows))
    print(
        f"\n{devices} devices, {total:,} rows loaded in {loaded['load_s']:.1f}s; grid load p50: "
        f"before / after = {ratios['5m']:.1f}x (5m range), {ratios['1h']:.1f}x (1h range); "
        f"latest values {'equal' if measured['correct'] else 'DIFFER FROM'} the newest rows"
    )
    return {
        "bench": "fleet",
        "devices": devices,
        "rows": total,
        "load_s": round(loaded["load_s"], 1),
        "grid_ratio_5m": round(ratios["5m"], 1),
        "grid_ratio_1h": round(ratios["1h"], 1),
        "correct": measured["correct"],
        "cases": {
            r["case"]: {k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}
            for r in rows
        },
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fleet", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--devices", type=int, help="devices in the fleet (default 50)")
    parser.add_argument("--hours", type=int, help="hours of 1 Hz data per device (default 2)")
    parser.add_argument("--samples", type=int, help="loads per case (default 30)")
    parser.add_argument("--quick", action="store_true", help="10 devices, 1 hour, 5 samples")
    parser.add_argument("--server-url", help="use this PostgreSQL server, not an embedded one")
    args = parser.parse_args(argv)
    devices = args.devices or (10 if args.quick else 50)
    hours = args.hours or (1 if args.quick else 2)
    samples = args.samples or (5 if args.quick else 30)
    setup_logging("bench", "INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    fields = run(max(1, devices), max(1, hours), max(1, samples), args.server_url)
    print(json.dumps(fields, separators=(",", ":")), flush=True)
    return 0 if fields["correct"] else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
