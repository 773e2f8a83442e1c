"""Rollups recomputed from raw rows, independently of how either backend maintains them.

avg is sum / count (float8's avg overflows past ~1e154); open and close are the first and last
tick by (time, source), so ticks of several sources at one instant have one right answer."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Final

import asyncpg

from api.history.candles import candles
from api.history.resolution import Source, ask
from api.history.series import telemetry
from api.history.timerange import TimeRange
from tests.support import wait_until

ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"
LEVELS = {"1m": "1 minute", "1h": "1 hour", "1d": "1 day"}


def _settled(kind: str, level: str, settled_only: bool, since: datetime | None = None) -> str:
    """A filter on `bucket`: from `since` on, and (`settled_only`) no refresh window pending
    over it at this level or a finer one (a coarser level is refreshed from the finer ones)."""
    after = "true" if since is None else f"bucket >= TIMESTAMPTZ '{since.isoformat()}'"
    if not settled_only:
        return after
    relations = ", ".join(
        f"'{kind}_{name}'" for name in list(LEVELS)[: list(LEVELS).index(level) + 1]
    )
    return f"""{after} AND NOT EXISTS (
                   SELECT 1 FROM rollup_pending p WHERE p.relation IN ({relations})
                   AND p.window_start < bucket + INTERVAL '{LEVELS[level]}'
                   AND p.window_end > bucket)"""


async def telemetry_mismatches(
    db: asyncpg.Connection, level: str, settled_only: bool = False, since: datetime | None = None
) -> list[str]:
    width = LEVELS[level]
    settled = _settled("telemetry", level, settled_only, since)
    expected = await db.fetch(
        f"""SELECT * FROM (
                SELECT date_bin(INTERVAL '{width}', time, {ORIGIN}) AS bucket, device_id, metric,
                       count(*) AS count, sum(value) AS sum, min(value) AS min, max(value) AS max,
                       sum(value) / count(*) AS avg,
                       (array_agg(value ORDER BY time DESC))[1] AS last
                FROM telemetry GROUP BY 1, 2, 3) AS raw
            WHERE {settled} ORDER BY 2, 3, 1"""
    )
    actual = await db.fetch(
        f"""SELECT bucket, device_id, metric, count, sum, min, max, avg, last
            FROM telemetry_{level} WHERE {settled} ORDER BY 2, 3, 1"""
    )
    return _compare(
        expected,
        actual,
        exact=("bucket", "device_id", "metric", "count", "min", "max", "last"),
        close=("sum", "avg"),
    )


async def prices_mismatches(
    db: asyncpg.Connection, level: str, settled_only: bool = False, since: datetime | None = None
) -> list[str]:
    width = LEVELS[level]
    settled = _settled("prices", level, settled_only, since)
    expected = await db.fetch(
        f"""SELECT * FROM (
                SELECT date_bin(INTERVAL '{width}', time, {ORIGIN}) AS bucket, ticker,
                       (array_agg(price ORDER BY time, source))[1] AS open, max(price) AS high,
                       min(price) AS low,
                       (array_agg(price ORDER BY time DESC, source DESC))[1] AS close,
                       sum(volume) AS volume, count(*) AS count
                FROM prices GROUP BY 1, 2) AS raw
            WHERE {settled} ORDER BY 2, 1"""
    )
    actual = await db.fetch(
        f"""SELECT bucket, ticker, open, high, low, close, volume, count
            FROM prices_{level} WHERE {settled} ORDER BY 2, 1"""
    )
    return _compare(
        expected,
        actual,
        exact=("bucket", "ticker", "open", "high", "low", "close", "count"),
        close=("volume",),
    )


def _abs_tolerance(row: Any) -> float:
    """How far two correct averages of a bucket may differ: a float sum's error grows with the
    magnitudes summed, not with the result (1e300 + 20 − 1e300 + 21.5 is 0, 20 or 41.5 by the
    order of the additions, and a rollup merges in batch order); each |x| ≤ max(|min|, |max|)."""
    try:
        low, high = row["min"], row["max"]
    except (KeyError, IndexError):
        return 1e-9
    if low is None or high is None:
        return 1e-9
    return max(1e-9, 1e-9 * max(abs(float(low)), abs(float(high))))


def _compare(
    expected: list[Any], actual: list[Any], exact: tuple[str, ...], close: tuple[str, ...]
) -> list[str]:
    problems = []
    if len(expected) != len(actual):
        problems.append(f"{len(actual)} rollup rows, {len(expected)} expected")
    for want, got in zip(expected, actual, strict=False):
        for column in exact:
            if want[column] != got[column]:
                problems.append(f"{column}: {got[column]!r} != {want[column]!r} in {dict(want)}")
        for column in close:
            a, b = want[column], got[column]
            tolerance = _abs_tolerance(want) if column == "value" else 1e-9
            if (a is None) != (b is None) or (
                a is not None and not math.isclose(a, b, rel_tol=1e-9, abs_tol=tolerance)
            ):
                problems.append(f"{column}: {b!r} != {a!r} in {dict(want)}")
    return problems[:10]


async def rollups_settled(db: asyncpg.Connection, timeout: float = 60) -> None:
    """Until no rollup window is pending: right after a commit a rollup may still lag its raw
    rows (the answers never do: they read raw rows where a window is pending) — TimescaleDB's
    refresher refreshes after the commit, plain PostgreSQL's merger folds the batches' partials
    when ingest goes quiet and at least every TICKWIRE_ROLLUP_MERGE_INTERVAL_MS."""

    async def empty() -> bool:
        return not await db.fetchval("SELECT count(*) FROM rollup_pending")

    await wait_until("no rollup window pending", empty, timeout, interval=0.2)


async def all_mismatches(
    db: asyncpg.Connection, settled_only: bool = False, since: datetime | None = None
) -> list[str]:
    """Rollup rows that differ from the raw recomputation, at every level of both kinds;
    `settled_only`: only where no refresh is pending (TimescaleDB, `rollup_pending`); `since`:
    only buckets from then on."""
    problems = []
    for level in LEVELS:
        problems += await telemetry_mismatches(db, level, settled_only, since)
        problems += await prices_mismatches(db, level, settled_only, since)
    return problems


async def answer_mismatches(db: asyncpg.Connection, start: datetime, end: datetime) -> list[str]:
    """History answers (candles of every ticker, buckets of every device) at 1m, 1h and 1d
    that differ from the same answers computed from raw rows only."""
    span = TimeRange(start, end)
    problems: list[str] = []
    for every in LEVELS:
        auto, raw = (ask(span, None, every, source) for source in (Source.auto, Source.raw))
        for (ticker,) in await db.fetch("SELECT DISTINCT ticker FROM prices ORDER BY 1"):
            _, got = await candles(db, ticker, auto)
            _, want = await candles(db, ticker, raw)
            problems += _compare(want, got, exact=_CANDLE_EXACT, close=("volume",))
        for (device,) in await db.fetch("SELECT DISTINCT device_id FROM telemetry ORDER BY 1"):
            got_series = (await telemetry(db, device, None, auto)).series
            want_series = (await telemetry(db, device, None, raw)).series
            for got_one, want_one in zip(got_series, want_series, strict=True):
                problems += _compare(
                    want_one.points, got_one.points, exact=_POINT_EXACT, close=("value",)
                )
    return problems[:10]


_CANDLE_EXACT: Final = ("time", "open", "high", "low", "close", "count")
_POINT_EXACT: Final = ("time", "min", "max", "count", "last")
