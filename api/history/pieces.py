"""The pieces a bucketed answer is built from: one UNION ALL over `resolution.cover`'s segments.

A rollup segment reads whole buckets of its level (`{table}_{level}`); a raw segment
aggregates raw rows per `raw_grain` into the same shape first. Pieces never overlap in time,
so the caller re-aggregates them exactly into its buckets (series, candles).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from api.history.resolution import Segment
from tickwire.timegrid import ORIGIN_SQL


class Params:
    """Positional parameters of a statement being built: `add` returns the placeholder."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


@dataclass(frozen=True, slots=True)
class Shape:
    """What a piece of a table holds: its rollup columns, and the same computed from raw rows."""

    table: str
    rollup: str
    raw: str
    group_by: str


#: The value at the latest time of a group. Cheaper than `(array_agg(v ORDER BY t DESC))[1]`
#: (no sort per group); exact while times are distinct within a group, which they are (raw
#: telemetry times are unique per metric, pieces never overlap) and float8 epoch seconds keep
#: microseconds apart until well past 2200.
LATEST: Final = "(max(ARRAY[date_part('epoch', {t}), {v}]))[2]"

#: (t, metric, count, sum, min, max, last)
TELEMETRY: Final = Shape(
    "telemetry",
    "metric, count, sum, min, max, last",
    "metric, count(*) AS count, sum(value) AS sum, min(value) AS min, max(value) AS max, "
    f"{LATEST.format(t='time', v='value')} AS last",
    "1, 2",
)
#: (t, open, high, low, close, volume, count); ticks at one instant are ordered by `source`,
#: as in the rollups of both backends.
PRICES: Final = Shape(
    "prices",
    "open, high, low, close, volume, count",
    "(array_agg(price ORDER BY time, source))[1] AS open, "
    "max(price) AS high, min(price) AS low, "
    "(array_agg(price ORDER BY time DESC, source DESC))[1] AS close, "
    "sum(volume) AS volume, count(*) AS count",
    "1",
)


def union(
    shape: Shape, segments: list[Segment], params: Params, where: str, raw_grain: timedelta
) -> str:
    """UNION ALL of the segments as pieces of `shape`, rows matching `where`."""
    parts = []
    step = ""
    for segment in segments:
        lo, hi = params.add(segment.start), params.add(segment.end)
        if segment.level is not None:
            parts.append(
                f"SELECT bucket AS t, {shape.rollup} FROM {shape.table}_{segment.level} "
                f"WHERE {where} AND bucket >= {lo} AND bucket < {hi}"
            )
            continue
        step = step or params.add(raw_grain)
        parts.append(
            f"SELECT date_bin({step}, time, {ORIGIN_SQL}) AS t, {shape.raw} "
            f"FROM {shape.table} WHERE {where} AND time >= {lo} AND time < {hi} "
            f"GROUP BY {shape.group_by}"
        )
    return "\nUNION ALL\n".join(parts)
