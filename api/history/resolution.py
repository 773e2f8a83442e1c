"""Which data answers a history or stats query: raw rows, rollups, and the buckets to return.

A query over [start, end) grouped by a width W is answered exactly from pieces that tile the
range: whole rollup buckets of the coarsest level whose width divides W where they fit, finer
levels towards the edges, and raw rows in the partial minutes at either end. Every piece lies
inside one W bucket, so re-aggregating the pieces gives the same numbers as aggregating the raw
rows of [start, end) directly (see `cover`). Windows whose rollups still wait for a refresh
(TimescaleDB, late rows: `rollup_pending`) are read from raw rows, so an answer includes every
committed row.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from api.error_codes import ErrorCode
from api.errors import Invalid
from api.history import interval
from api.history.timerange import TimeRange
from tickwire import timegrid

#: Rollup levels, coarsest first: (suffix of the relation, bucket width).
LEVELS: Final = tuple(reversed(timegrid.LEVELS))
FINEST: Final = timegrid.FINEST
DEFAULT_POINTS: Final = 1000
MAX_POINTS: Final = 10_000


class Source(enum.StrEnum):
    """`auto` lets the server pick rollups; `raw` computes everything from raw rows."""

    auto = "auto"
    raw = "raw"


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of the range read from one relation: a rollup level, or raw rows (None)."""

    level: str | None
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Ask:
    """A validated history request: the range, the width, and whether it was explicit."""

    start: datetime
    end: datetime
    width: timedelta
    points: int | None
    raw_only: bool

    @property
    def explicit(self) -> bool:
        return self.points is None


def ask(span: TimeRange, points: int | None, every: str | None, source: Source) -> Ask:
    """Check `points`/`interval` (422 `points_and_interval`, `invalid_interval`,
    `too_many_points`) and settle the bucket width."""
    raw_only = source is Source.raw
    if points is not None and every is not None:
        raise Invalid(
            "give either points or interval, not both", code=ErrorCode.POINTS_AND_INTERVAL
        )
    if every is None:
        wanted = points or DEFAULT_POINTS
        width = interval.auto_width(span.start, span.end, wanted)
        return Ask(span.start, span.end, width, wanted, raw_only)
    width = interval.parse_interval(every)
    buckets = interval.bucket_count(span.start, span.end, width)
    if buckets > MAX_POINTS:
        raise Invalid(
            f"interval {every} gives {buckets} buckets over this range; at most {MAX_POINTS}",
            code=ErrorCode.TOO_MANY_POINTS,
            details={"buckets": buckets, "max": MAX_POINTS},
        )
    return Ask(span.start, span.end, width, None, raw_only)


def levels_for(width: timedelta | None, raw_only: bool = False) -> list[tuple[str, timedelta]]:
    """Rollup levels whose buckets nest in buckets of `width` (None: one bucket, any level)."""
    if raw_only:
        return []
    return [(name, w) for name, w in LEVELS if width is None or width % w == timedelta(0)]


Window = tuple[datetime, datetime]
Stale = Mapping[str, Sequence[Window]]
"""Rollup level → windows where it may still miss committed rows (refresh pending)."""


def cover(
    start: datetime, end: datetime, levels: list[tuple[str, timedelta]], stale: Stale | None = None
) -> list[Segment]:
    """Disjoint segments tiling [start, end): whole buckets of the coarsest level where they
    fit, finer levels for what is left at either edge, raw rows for the rest (in time order).
    Where a level is `stale`, its buckets there are tiled again with finer levels and raw rows
    (adjacent raw segments joined: pieces of one minute always come from one segment)."""
    segments = _tiles(start, end, levels)
    if not stale:
        return segments
    tiled: list[Segment] = []
    for segment in segments:
        if segment.level is None:
            tiled.append(segment)
            continue
        rank = next(i for i, (name, _) in enumerate(levels) if name == segment.level)
        width, cursor = levels[rank][1], segment.start
        for low, high in sorted(stale.get(segment.level, ())):
            low = max(timegrid.floor(low, width), cursor)
            high = min(timegrid.ceil(high, width), segment.end)
            if low >= high:
                continue
            if cursor < low:
                tiled.append(Segment(segment.level, cursor, low))
            tiled += cover(low, high, levels[rank + 1 :], stale)
            cursor = high
        if cursor < segment.end:
            tiled.append(Segment(segment.level, cursor, segment.end))
    return _joined(tiled)


def _tiles(start: datetime, end: datetime, levels: list[tuple[str, timedelta]]) -> list[Segment]:
    if start >= end:
        return []
    if not levels:
        return [Segment(None, start, end)]
    (name, width), finer = levels[0], levels[1:]
    inner_start, inner_end = timegrid.ceil(start, width), timegrid.floor(end, width)
    if inner_start >= inner_end:
        return _tiles(start, end, finer)
    return [
        *_tiles(start, inner_start, finer),
        Segment(name, inner_start, inner_end),
        *_tiles(inner_end, end, finer),
    ]


def _joined(segments: list[Segment]) -> list[Segment]:
    joined: list[Segment] = []
    for segment in segments:
        last = joined[-1] if joined else None
        if last and last.level is None and segment.level is None and last.end == segment.start:
            joined[-1] = Segment(None, last.start, segment.end)
        else:
            joined.append(segment)
    return joined


def stale_levels(pending: Sequence[tuple[str, datetime, datetime]]) -> dict[str, list[Window]]:
    """Pending (level, start, end) windows as `Stale`: a coarser level is refreshed from the
    finer one, so a window pending at a level makes every coarser level stale there too."""
    widths = dict(LEVELS)
    return {
        name: [(low, high) for level, low, high in pending if widths[level] <= width]
        for name, width in LEVELS
    }


def source_of(table: str, segments: list[Segment]) -> str:
    """The coarsest relation read: `telemetry_1h`, `prices_1m`, … or `raw`."""
    for name, _ in LEVELS:
        if any(segment.level == name for segment in segments):
            return f"{table}_{name}"
    return "raw"


def grain(levels: list[tuple[str, timedelta]], width: timedelta) -> timedelta:
    """How raw rows are pre-aggregated before re-bucketing: per minute when rollups are in
    play (pieces then look like 1m rollup rows), else straight into the target width."""
    return FINEST if levels else width
