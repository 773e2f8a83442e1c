"""Rollups recomputed from raw rows, independently of how either backend maintains them."""

from __future__ import annotations

import math
from typing import Any

import asyncpg

ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"
LEVELS = {"1m": "1 minute", "1h": "1 hour", "1d": "1 day"}


async def telemetry_mismatches(db: asyncpg.Connection, level: str) -> list[str]:
    width = LEVELS[level]
    expected = await db.fetch(
        f"""SELECT date_bin(INTERVAL '{width}', time, {ORIGIN}) AS bucket, device_id, metric,
                   count(*) AS count, sum(value) AS sum, min(value) AS min, max(value) AS max,
                   avg(value) AS avg, (array_agg(value ORDER BY time DESC))[1] AS last
            FROM telemetry GROUP BY 1, 2, 3 ORDER BY 2, 3, 1"""
    )
    actual = await db.fetch(
        f"""SELECT bucket, device_id, metric, count, sum, min, max, avg, last
            FROM telemetry_{level} ORDER BY 2, 3, 1"""
    )
    return _compare(
        expected,
        actual,
        exact=("bucket", "device_id", "metric", "count", "min", "max", "last"),
        close=("sum", "avg"),
    )


async def prices_mismatches(db: asyncpg.Connection, level: str) -> list[str]:
    width = LEVELS[level]
    expected = await db.fetch(
        f"""SELECT date_bin(INTERVAL '{width}', time, {ORIGIN}) AS bucket, ticker,
                   (array_agg(price ORDER BY time))[1] AS open, max(price) AS high,
                   min(price) AS low, (array_agg(price ORDER BY time DESC))[1] AS close,
                   sum(volume) AS volume, count(*) AS count
            FROM prices GROUP BY 1, 2 ORDER BY 2, 1"""
    )
    actual = await db.fetch(
        f"""SELECT bucket, ticker, open, high, low, close, volume, count
            FROM prices_{level} ORDER BY 2, 1"""
    )
    return _compare(
        expected,
        actual,
        exact=("bucket", "ticker", "open", "high", "low", "close", "count"),
        close=("volume",),
    )


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
            if (a is None) != (b is None) or (
                a is not None and not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
            ):
                problems.append(f"{column}: {b!r} != {a!r} in {dict(want)}")
    return problems[:10]


async def all_mismatches(db: asyncpg.Connection) -> list[str]:
    problems = []
    for level in LEVELS:
        problems += await telemetry_mismatches(db, level)
        problems += await prices_mismatches(db, level)
    return problems
