"""Telemetry series and rolling stats in plain SQL (asyncpg), from rollups and raw rows.

Every bucketed answer is one statement (one snapshot) over the pieces `resolution.cover`
chooses: rollup rows carry count/sum/min/max/last; raw rows are aggregated per minute into the
same shape first. Re-aggregation is exact: count and sum add up, avg = Σsum / Σcount, min of
mins, max of maxes, last = the last of the latest piece (pieces never overlap in time).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg
import numpy as np

from api.history import downsample
from api.history.pending import stale
from api.history.pieces import LATEST, TELEMETRY, Params, union
from api.history.resolution import (
    FINEST,
    LEVELS,
    Ask,
    cover,
    grain,
    levels_for,
    source_of,
)
from tickwire.timegrid import ORIGIN_SQL

#: Origin of PostgreSQL's binary timestamptz: microseconds since 2000-01-01 00:00 UTC.
PG_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
#: Raw rows fetched at most for one answer in the raw region; beyond, raw rows are bucketed
#: in the database instead of being downsampled here.
RAW_FETCH_MAX: Final = 100_000


@dataclass(frozen=True, slots=True)
class Series:
    metric: str
    method: str
    """`raw` (every row), `minmaxlttb` (raw rows selected by MinMaxLTTB) or `bucket`."""
    points: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Answer:
    source: str
    width: timedelta | None
    series: list[Series]


def _filter(params: Params, device_id: str, metric: str | None) -> str:
    where = f"device_id = {params.add(device_id)}"
    return where if metric is None else f"{where} AND metric = {params.add(metric)}"


async def telemetry(
    conn: asyncpg.Connection, device_id: str, metric: str | None, ask: Ask
) -> Answer:
    """The device's series over the asked range: raw rows (downsampled past `points`) when the
    auto width is finer than the finest rollup, else buckets of the asked or chosen width."""
    if not ask.explicit and ask.width < FINEST and (ask.points or 0) >= downsample.MIN_POINTS:
        answer = await _raw(conn, device_id, metric, ask)
        if answer is not None:
            return answer
    return await _buckets(conn, device_id, metric, ask)


async def _raw(
    conn: asyncpg.Connection, device_id: str, metric: str | None, ask: Ask
) -> Answer | None:
    """Raw rows per metric, MinMaxLTTB past `points`; None when there are too many to fetch.

    Each metric's times and values come back as two packed binary arrays (the rows' binary
    send format, concatenated in time order), decoded by numpy: no Python object per row."""
    params = Params()
    where = _filter(params, device_id, metric)
    window = f"time >= {params.add(ask.start)} AND time < {params.add(ask.end)}"
    limit = params.add(RAW_FETCH_MAX + 1)
    packed = (
        "count(*) AS n, string_agg(timestamptz_send(time), ''::bytea ORDER BY time) AS times, "
        "string_agg(float8send(value), ''::bytea ORDER BY time) AS values"
    )
    if metric is None:
        statement = f"""SELECT metric, {packed} FROM (SELECT metric, time, value FROM telemetry
                        WHERE {where} AND {window} ORDER BY metric, time LIMIT {limit}) AS r
                        GROUP BY metric ORDER BY metric"""
    else:  # one metric: no grouping, the rows come sorted from the index
        statement = f"""SELECT {packed} FROM (SELECT time, value FROM telemetry
                        WHERE {where} AND {window} ORDER BY time LIMIT {limit}) AS r"""
    rows = [row for row in await conn.fetch(statement, *params.values) if row["n"]]
    if sum(row["n"] for row in rows) > RAW_FETCH_MAX:
        return None
    assert ask.points is not None
    series = []
    for row in rows:
        times = np.frombuffer(row["times"], dtype=">i8").astype(np.int64)
        values = np.frombuffer(row["values"], dtype=">f8").astype(np.float64)
        chosen = downsample.select(times, values, ask.points)
        method = "raw" if len(chosen) == len(values) else downsample.METHOD
        points = [
            {"time": PG_EPOCH + timedelta(microseconds=t), "value": v}
            for t, v in zip(times[chosen].tolist(), values[chosen].tolist(), strict=True)
        ]
        series.append(Series(metric or row["metric"], method, points))
    return Answer("raw", None, series)


async def _buckets(
    conn: asyncpg.Connection, device_id: str, metric: str | None, ask: Ask
) -> Answer:
    levels = levels_for(ask.width, ask.raw_only)
    segments = cover(ask.start, ask.end, levels, await stale(conn, "telemetry", ask.start, ask.end))
    params = Params()
    where = _filter(params, device_id, metric)
    pieces = union(TELEMETRY, segments, params, where, grain(levels, ask.width))
    width = params.add(ask.width)
    rows = await conn.fetch(
        f"""WITH pieces AS ({pieces})
            SELECT metric, date_bin({width}, t, {ORIGIN_SQL}) AS time,
                   sum(count)::bigint AS count, sum(sum) AS sum, min(min) AS min,
                   max(max) AS max, {LATEST.format(t="t", v="last")} AS last
            FROM pieces GROUP BY 1, 2 ORDER BY 1, 2""",
        *params.values,
    )
    series = [
        Series(name, "bucket", [_bucket_point(row) for row in group])
        for name, group in itertools.groupby(rows, key=lambda row: row[0])
    ]
    return Answer(source_of("telemetry", segments), ask.width, series)


def _bucket_point(row: asyncpg.Record) -> dict[str, Any]:
    count = row["count"]
    return {
        "time": row["time"],
        "value": row["sum"] / count,
        "min": row["min"],
        "max": row["max"],
        "count": count,
        "last": row["last"],
    }


@dataclass(frozen=True, slots=True)
class Stats:
    sources: list[str]
    metrics: list[dict[str, Any]]


async def stats(conn: asyncpg.Connection, device_id: str, start: datetime, end: datetime) -> Stats:
    """avg/count/min/max per metric over [start, end): whole rollup buckets inside the window
    (coarsest first) plus the raw rows of the partial minutes at its edges."""
    segments = cover(start, end, levels_for(None), await stale(conn, "telemetry", start, end))
    params = Params()
    pieces = union(TELEMETRY, segments, params, _filter(params, device_id, None), FINEST)
    rows = await conn.fetch(
        f"""WITH pieces AS ({pieces})
            SELECT metric, sum(count)::bigint AS count, sum(sum) AS sum,
                   min(min) AS min, max(max) AS max
            FROM pieces GROUP BY 1 ORDER BY 1""",
        *params.values,
    )
    metrics = [
        {
            "metric": row["metric"],
            "avg": row["sum"] / row["count"],
            "count": row["count"],
            "min": row["min"],
            "max": row["max"],
        }
        for row in rows
    ]
    used = {segment.level for segment in segments}
    sources = [f"telemetry_{name}" for name, _ in LEVELS if name in used]
    return Stats(sources + ["raw"] * (None in used), metrics)
