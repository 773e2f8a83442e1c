"""The SELECT behind an export: which rows (filters, ownership), in time order, cheaply.

Rows come out ordered by time, then by the rest of the natural key. For one device the
statement merges one index scan per metric (`telemetry_key` is (device_id, metric, time), so
each is already in time order): PostgreSQL streams a Merge Append instead of sorting millions
of rows first, and the first bytes leave at once. Other selections let PostgreSQL sort.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

import asyncpg

from api import access
from api.export.exporters import Column, Exporter
from api.history.timerange import TimeRange

#: Above this many metrics a device's export is sorted rather than merged.
MERGE_MAX_SERIES: Final = 64

_DEVICE_METRICS: Final = """
WITH RECURSIVE m(metric) AS (
    (SELECT metric FROM telemetry WHERE device_id = $1 ORDER BY metric LIMIT 1)
  UNION ALL
    SELECT (SELECT t.metric FROM telemetry AS t
            WHERE t.device_id = $1 AND t.metric > m.metric ORDER BY t.metric LIMIT 1)
    FROM m WHERE m.metric IS NOT NULL
)
SELECT metric FROM m WHERE metric IS NOT NULL LIMIT $2"""


@dataclass(frozen=True, slots=True)
class Dataset:
    """An exportable table: its columns (in output order), its order, who may read a row."""

    table: str
    columns: tuple[Column, ...]
    order: tuple[str, ...]
    subject: access.Kind
    """What a row is about: who may read it is who may read that (`access.visible_sql`)."""

    @property
    def column_list(self) -> str:
        return ", ".join(c.name for c in self.columns)


TELEMETRY: Final = Dataset(
    "telemetry",
    (
        Column("time", "time"),
        Column("device_id", "text"),
        Column("metric", "text"),
        Column("value", "number"),
    ),
    ("time", "device_id", "metric"),
    access.DEVICE,
)
PRICES: Final = Dataset(
    "prices",
    (
        Column("time", "time"),
        Column("ticker", "text"),
        Column("price", "number"),
        Column("volume", "nullable_number"),
        Column("source", "text"),
    ),
    ("time", "ticker", "source"),
    access.STOCK,
)


@dataclass(frozen=True, slots=True)
class Selection:
    """What to export: a time range [start, end), column equalities, and whose rows.

    `owner` restricts rows to what that user may read; None when the caller is an admin or
    the request names a device or ticker already checked readable.
    """

    dataset: Dataset
    span: TimeRange
    equal: tuple[tuple[str, str], ...] = ()
    owner: uuid.UUID | None = None

    def value(self, column: str) -> str | None:
        return next((v for c, v in self.equal if c == column), None)


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    args: tuple[object, ...]


async def statement(conn: asyncpg.Connection, exporter: Exporter, chosen: Selection) -> Statement:
    """The SELECT for `chosen` rendered by `exporter`; run inside the export's snapshot."""
    device = chosen.value("device_id") if chosen.dataset is TELEMETRY else None
    if device is not None and chosen.value("metric") is None:
        metrics = await conn.fetch(_DEVICE_METRICS, device, MERGE_MAX_SERIES + 1)
        if 0 < len(metrics) <= MERGE_MAX_SERIES:
            return _merged(exporter, chosen, [row["metric"] for row in metrics])
    return _sorted(exporter, chosen)


def _where(chosen: Selection) -> tuple[list[str], list[object]]:
    """Conditions on `t` and their parameters: the range and the equalities."""
    args: list[object] = [chosen.span.start, chosen.span.end]
    where = ["t.time >= $1", "t.time < $2"]
    for column, value in chosen.equal:
        args.append(value)
        where.append(f"t.{column} = ${len(args)}")
    return where, args


def _sorted(exporter: Exporter, chosen: Selection) -> Statement:
    where, args = _where(chosen)
    if chosen.owner is not None:
        kind = chosen.dataset.subject
        user = f"${len(args) + 1}"
        visible = access.visible_sql(kind, f"t.{kind.column}", user)
        if user in visible:  # shared market data names no user: every stock is readable
            args.append(chosen.owner)
        where.append(visible)
    dataset = chosen.dataset
    return Statement(
        f"SELECT {exporter.select_list(dataset.columns)} FROM {dataset.table} AS t"
        f" WHERE {' AND '.join(where)}"
        f" ORDER BY {', '.join(f't.{c}' for c in dataset.order)}",
        tuple(args),
    )


def _merged(exporter: Exporter, chosen: Selection, metrics: list[str]) -> Statement:
    """One time-ordered index scan per metric, merged (Merge Append) into time order."""
    where, args = _where(chosen)
    dataset = chosen.dataset
    branches = []
    for metric in metrics:
        args.append(metric)
        branches.append(
            f"(SELECT {dataset.column_list} FROM {dataset.table} AS t"
            f" WHERE {' AND '.join(where)} AND t.metric = ${len(args)} ORDER BY t.time)"
        )
    return Statement(
        f"SELECT {exporter.select_list(dataset.columns)}"
        f" FROM ({' UNION ALL '.join(branches)}) AS t"
        f" ORDER BY {', '.join(f't.{c}' for c in dataset.order)}",
        tuple(args),
    )
