"""Market analytics latency: quotes, indicators, the scanner and a portfolio's value through the
real HTTP API, over a market of 1 000 tickers.

`python -m bench.market [--quick] [--tickers N] [--days D] [--samples S] [--server-url URL]`

The market is written straight into the database with COPY (no MQTT, no ingester): each ticker
has `--days` days of rollups and its last hour (61 minutes, so that the scanner's 1 h window has
a base tick) as raw 1 Hz ticks. Plain PostgreSQL only, where rollups are tables
(`sql/postgres/0001_rollups.sql`): the raw hour is aggregated into 1m, 1h and 1d buckets by SQL
as the ingester's merge does (`ingest/rollup.py`); before it, synthetic 1-minute bars cover the
last `--minute-days` days, synthetic 1-hour bars the rest, and each coarser level is aggregated
from the finer one. On TimescaleDB the rollups are continuous aggregates over raw rows, which
would need 30 days of raw ticks: the bench refuses that backend.

The API runs as `python -m api` (uvicorn on 127.0.0.1) in a child process; one client asks,
one request at a time, `--samples` times each:

- quotes: `GET /api/quotes` for 100 tickers (a different hundred each time);
- indicators: every name (sma, ema, rsi, macd, bbands, atr, obv, vwap) on 1 000 one-minute
  candles ending now;
- scanner: `GET /api/market/scanner` over every ticker, `window=1h` (the previous 20 windows
  from 1m/1h rollups and raw edges) and `window=24h` (20 days of 1h/1d rollups);
- value: `GET /api/portfolios/{id}/value` over 1 year at `points=1000` of a portfolio of 10
  tickers (buys over the 30 days and a sell).

Latency is the client's (request sent to body received), p50 and p99 (nearest rank).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np

from bench.history import auth_floor, percentile
from bench.stack import fresh_database, stack
from tests.process_support import api_process
from tickwire import timegrid
from tickwire.logs import setup_logging

log = logging.getLogger("bench.market")

SOURCE = "bench-feed"
RAW = timedelta(minutes=61)
QUOTE_TICKERS = 100
CANDLES = 1000
NAMES = "sma:20,ema:20,rsi:14,macd:12:26:9,bbands:20:2,atr:14,obv,vwap"
TARGETS_MS = {
    "quotes": 20.0, "indicators": 50.0, "scanner 1h": 200.0, "scanner 24h": 200.0, "value": 100.0
}  # fmt: skip
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
_BAR_COLUMNS = ("bucket", "ticker", "open", "high", "low", "close", "volume", "count",
                "open_time", "close_time", "open_source", "close_source")  # fmt: skip


def ticker_name(i: int) -> str:
    return f"B{i:04d}"


def _bars(
    ticker: str,
    start: datetime,
    width: timedelta,
    count: int,
    price: float,
    rng: np.random.Generator,
) -> tuple[list[tuple[Any, ...]], float]:
    """`count` synthetic OHLCV bars of `width` from `start`, a random walk from `price`; the
    rows (with open/close times and sources) and the last close."""
    steps = rng.normal(0, 0.002 * (width / MINUTE) ** 0.5, count)
    closes = price * np.exp(np.cumsum(steps))
    opens = np.concatenate(([price], closes[:-1]))
    spread = np.abs(rng.normal(0, 0.001, count)) * closes
    highs, lows = np.maximum(opens, closes) + spread, np.minimum(opens, closes) - spread
    seconds = int(width.total_seconds())
    volumes = rng.gamma(2.0, 50.0 * seconds, count).round()
    rows = []
    for i in range(count):
        at = start + i * width
        rows.append(
            (at, ticker, float(opens[i]), float(highs[i]), float(lows[i]), float(closes[i]),
             float(volumes[i]), seconds, at, at + width - timedelta(seconds=1), SOURCE, SOURCE)
        )  # fmt: skip
    return rows, float(closes[-1])


def _ticks(
    ticker: str, start: datetime, count: int, price: float, rng: np.random.Generator
) -> list[tuple[Any, ...]]:
    """`count` 1 Hz ticks from `start`, a random walk from `price`."""
    prices = price * np.exp(np.cumsum(rng.normal(0, 0.0003, count)))
    volumes = rng.integers(1, 200, count)
    second = timedelta(seconds=1)
    return [
        (start + i * second, ticker, float(prices[i]), float(volumes[i]), SOURCE)
        for i in range(count)
    ]


class Market:
    """Where the generated market's pieces begin and end (all on the rollup grid)."""

    def __init__(self, end: datetime, days: int, minute_days: int) -> None:
        self.end = end
        self.raw_start = timegrid.floor(end, MINUTE) - RAW
        self.minute_start = timegrid.floor(self.raw_start - timedelta(days=minute_days), HOUR)
        self.hour_start = timegrid.floor(end - timedelta(days=days), timedelta(days=1))


async def load(url: str, tickers: int, days: int, minute_days: int) -> dict[str, Any]:
    """Write the market; return what was written and how long it took."""
    conn = await asyncpg.connect(url)
    try:
        backend = await conn.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
        if backend != "postgres":
            raise SystemExit("bench.market writes rollup tables: plain PostgreSQL only")
        market = Market(datetime.now(UTC).replace(microsecond=0), days, minute_days)
        names = [ticker_name(i) for i in range(tickers)]
        await conn.copy_records_to_table(
            "stocks", records=[(n, f"Bench {n}") for n in names], columns=("ticker", "name")
        )
        started = time.perf_counter()
        counts = {"raw": 0, "1m": 0, "1h": 0}
        rng = np.random.default_rng(16)
        for chunk in range(0, tickers, 50):
            written = await _chunk(conn, market, names[chunk : chunk + 50], rng)
            counts = {k: counts[k] + written[k] for k in counts}
            log.info("tickers %d/%d written", min(chunk + 50, tickers), tickers)
        await _aggregate(conn, market)
        counts["1d"] = await conn.fetchval("SELECT count(*) FROM prices_1d")
        counts["1h"] = await conn.fetchval("SELECT count(*) FROM prices_1h")
        counts["1m"] = await conn.fetchval("SELECT count(*) FROM prices_1m")
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        return {
            "end": market.end,
            "load_s": load_s,
            "vacuum_analyze_s": time.perf_counter() - started,
            "rows": counts,
        }
    finally:
        await conn.close()


async def _chunk(
    conn: asyncpg.Connection, market: Market, names: list[str], rng: np.random.Generator
) -> dict[str, int]:
    hour_bars, minute_bars, ticks = [], [], []
    hours = (market.minute_start - market.hour_start) // HOUR
    minutes = (market.raw_start - market.minute_start) // MINUTE
    seconds = int((market.end - market.raw_start).total_seconds()) + 1
    for name in names:
        price = float(rng.lognormal(4, 1))
        rows, price = _bars(name, market.hour_start, HOUR, hours, price, rng)
        hour_bars += rows
        rows, price = _bars(name, market.minute_start, MINUTE, minutes, price, rng)
        minute_bars += rows
        ticks += _ticks(name, market.raw_start, seconds, price, rng)
    await conn.copy_records_to_table("prices_1h", records=hour_bars, columns=_BAR_COLUMNS)
    await conn.copy_records_to_table("prices_1m", records=minute_bars, columns=_BAR_COLUMNS)
    await conn.copy_records_to_table(
        "prices", records=ticks, columns=("time", "ticker", "price", "volume", "source")
    )
    return {"raw": len(ticks), "1m": len(minute_bars), "1h": len(hour_bars)}


def _rollup(target: str, width: str, source: str, since: str) -> str:
    """Aggregate `source` rows (raw ticks or finer bars) at or after `since` into `target`."""
    bucket = f"date_bin(INTERVAL '{width}', {{t}}, {timegrid.ORIGIN_SQL})"
    if source == "prices":
        first, last, t = "price", "price", "time"
        high, low, volume, count = "max(price)", "min(price)", "sum(volume)", "count(*)"
        open_time, close_time = "min(time)", "max(time)"
    else:
        first, last, t = "open", "close", "bucket"
        high, low, volume, count = "max(high)", "min(low)", "sum(volume)", "sum(count)"
        open_time, close_time = "min(open_time)", "max(close_time)"
    return f"""INSERT INTO {target} ({", ".join(_BAR_COLUMNS)})
        SELECT {bucket.format(t=t)}, ticker, (array_agg({first} ORDER BY {t}))[1], {high},
               {low}, (array_agg({last} ORDER BY {t} DESC))[1], {volume}, {count},
               {open_time}, {close_time}, '{SOURCE}', '{SOURCE}'
        FROM {source} WHERE {t} >= {since} GROUP BY 1, ticker"""


async def _aggregate(conn: asyncpg.Connection, market: Market) -> None:
    """The raw hour into 1m; 1m into the 1h buckets after `minute_start`; 1h into 1d."""
    await conn.execute(_rollup("prices_1m", "1 minute", "prices", "$1"), market.raw_start)
    await conn.execute(_rollup("prices_1h", "1 hour", "prices_1m", "$1"), market.minute_start)
    await conn.execute(_rollup("prices_1d", "1 day", "prices_1h", "$1"), market.hour_start)


def portfolio(client: httpx.Client, end: datetime, tickers: int) -> int:
    """A portfolio of 10 tickers bought over the data's days, one of them partly sold."""
    created = client.post("/api/portfolios", json={"name": "bench"})
    created.raise_for_status()
    pid = int(created.json()["id"])
    for i in range(10):
        at = end - timedelta(days=25 - 2 * i, hours=i)
        body = {"ticker": ticker_name(i * tickers // 10), "side": "buy", "quantity": 10 + i}
        add = client.post(f"/api/portfolios/{pid}/transactions", json=body | {
            "price": 50.0, "time": at.isoformat()})  # fmt: skip
        add.raise_for_status()
    sell = {"ticker": ticker_name(0), "side": "sell", "quantity": 4, "price": 55.0}
    client.post(
        f"/api/portfolios/{pid}/transactions",
        json=sell | {"time": (end - timedelta(days=3)).isoformat()},
    ).raise_for_status()
    return pid


def requests(
    client: httpx.Client, end: datetime, tickers: int, pid: int
) -> dict[str, Callable[[int], httpx.Response]]:
    """One callable per measured route; the argument varies what is asked between samples."""
    names = [ticker_name(i) for i in range(tickers)]
    candle_start = timegrid.floor(end, MINUTE) - CANDLES * MINUTE
    year = {"start": (end - timedelta(days=365)).isoformat(), "end": end.isoformat()}

    def quotes(n: int) -> httpx.Response:
        chosen = random.Random(n).sample(names, min(QUOTE_TICKERS, len(names)))
        return client.get("/api/quotes", params={"tickers": ",".join(chosen)})

    def indicators(n: int) -> httpx.Response:
        ticker = names[n * 7919 % len(names)]
        params = {"names": NAMES, "interval": "1m", "start": candle_start.isoformat(),
                  "end": (candle_start + CANDLES * MINUTE).isoformat()}  # fmt: skip
        return client.get(f"/api/stocks/{ticker}/indicators", params=params)

    def scanner_1h(n: int) -> httpx.Response:
        return client.get("/api/market/scanner", params={"window": "1h"})

    def scanner_24h(n: int) -> httpx.Response:
        return client.get("/api/market/scanner", params={"window": "24h"})

    def value(n: int) -> httpx.Response:
        return client.get(f"/api/portfolios/{pid}/value", params=year | {"points": 1000})

    return {
        "quotes": quotes,
        "indicators": indicators,
        "scanner 1h": scanner_1h,
        "scanner 24h": scanner_24h,
        "value": value,
    }


def measure(name: str, ask: Callable[[int], httpx.Response], samples: int) -> dict[str, Any]:
    first = ask(-1)  # warm-up, and the answer's size
    first.raise_for_status()
    times = []
    for n in range(samples):
        started = time.perf_counter()
        ask(n).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    p50 = percentile(times, 50)
    return {
        "route": name,
        "samples": samples,
        "size": _size(name, first.json()),
        "p50_ms": p50,
        "p99_ms": percentile(times, 99),
        "target_ms": TARGETS_MS[name],
        "met": p50 < TARGETS_MS[name],
    }


def _size(name: str, body: dict[str, Any]) -> str:
    """What one answer held, to show the work was real."""
    if name == "quotes":
        return f"{sum(q['price'] is not None for q in body['items'])} quotes"
    if name == "indicators":
        return f"{len(body['time'])} candles x {len(body['series'])}"
    if name.startswith("scanner"):
        lists = ("gainers", "losers", "most_active", "unusual_volume", "breakouts")
        return f"{body['overview']['scanned']} scanned, {sum(len(body[k]) for k in lists)} listed"
    return f"{len(body['time'])} points"


_HEADER = f"{'route':<12}{'answer':>28}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}{'target':>9}{'':>8}"


def render(rows: list[dict[str, Any]]) -> str:
    lines = [_HEADER, "-" * len(_HEADER)]
    for r in rows:
        lines.append(
            f"{r['route']:<12}{r['size']:>28}{r['samples']:>5}{r['p50_ms']:>9.1f}"
            f"{r['p99_ms']:>9.1f}{'< ' + format(r['target_ms'], '.0f'):>9}"
            f"{'met' if r['met'] else 'MISSED':>8}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="tickwire-bench-") as tmp,
        stack(Path(tmp), args.server_url) as servers,
        fresh_database(servers.server_url, f"market_{uuid.uuid4().hex[:8]}") as url,
    ):
        loaded = asyncio.run(load(url, args.tickers, args.days, args.minute_days))
        with (
            api_process(url, Path(tmp), servers.broker_url) as (base_url, _, token),
            httpx.Client(base_url=base_url, timeout=120) as client,
        ):
            client.headers["Authorization"] = f"Bearer {token}"
            floor_ms = auth_floor(client, args.samples)
            pid = portfolio(client, loaded["end"], args.tickers)
            asks = requests(client, loaded["end"], args.tickers, pid)
            rows = [measure(name, ask, args.samples) for name, ask in asks.items()]
    print(render(rows))
    rows_written = loaded["rows"]
    print(
        f"\n{args.tickers} tickers: {rows_written['raw']:,} raw ticks, {rows_written['1m']:,} "
        f"1m / {rows_written['1h']:,} 1h / {rows_written['1d']:,} 1d rollup rows written in "
        f"{loaded['load_s']:.1f}s, VACUUM ANALYZE {loaded['vacuum_analyze_s']:.1f}s\n"
        f"GET /users/me p50 {floor_ms:.1f} ms (the floor of any authenticated request)"
    )
    return {
        "bench": "market",
        "tickers": args.tickers,
        "days": args.days,
        "rows": rows_written,
        "load_s": round(loaded["load_s"], 1),
        "users_me_p50_ms": round(floor_ms, 1),
        "targets_met": all(r["met"] for r in rows),
        "routes": {
            r["route"]: {k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}
            for r in rows
        },
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.market", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--tickers", type=int, help="tickers in the market (default 1000)")
    parser.add_argument("--days", type=int, default=30, help="days of rollups (default 30)")
    parser.add_argument(
        "--minute-days", type=int, default=2, help="of which the last ones as 1m bars (default 2)"
    )
    parser.add_argument("--samples", type=int, help="requests per route (default 50)")
    parser.add_argument("--quick", action="store_true", help="100 tickers, 10 samples: CI smoke")
    parser.add_argument("--server-url", help="use this PostgreSQL server, not an embedded one")
    args = parser.parse_args(argv)
    args.tickers = max(10, args.tickers or (100 if args.quick else 1000))
    args.samples = max(1, args.samples or (10 if args.quick else 50))
    args.minute_days = max(1, min(args.minute_days, args.days - 1))
    setup_logging("bench", "INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    fields = run(args)
    print(json.dumps(fields, separators=(",", ":"), default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
