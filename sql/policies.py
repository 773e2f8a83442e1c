"""Retention and compression of the raw series and of each rollup level (TimescaleDB only).

They are settings, not revisions: `python -m sql upgrade` applies them on every run, changing
only the policies whose setting changed (a job kept keeps its history). The limits follow from
the refresh windows (sql/timescaledb/0004_rollups.sql): a level is refreshed from the one below
it over its window (1m from raw over 3 hours, 1h from 1m over 3 days, 1d from 1h over 30 days),
so what a refresh reads must outlive that window; and a level is compressed only past its own
window, so that refreshes seldom write into compressed chunks.

A rollup level never expires before the rows it summarises: raw ≤ 1m ≤ 1h ≤ 1d (0 keeps
everything, so while raw rows are kept every level is). Late rows are folded into the rollups
only while their raw neighbours are all still there (ingest/refresher.py), so every bucket
newer than the raw retention is exact and every older one is history, frozen as it was; a
level dropped before raw would leave buckets that could be neither recomputed nor kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import Connection, text

from tickwire import timegrid

LEVELS: Final = ("raw", *timegrid.WIDTHS)
#: Smallest retention (days) of raw rows and of each level: longer than the window any refresh
#: reads it over. 0 keeps everything.
MIN_RETENTION_DAYS: Final = {"raw": 31, "1m": 31, "1h": 31, "1d": 31}
#: Smallest compress-after (days) of each level: past its own refresh window. 0 never compresses.
MIN_COMPRESS_DAYS: Final = {"1m": 1, "1h": 4, "1d": 31}
#: The 1m level's retention when raw rows expire and it is not set: a year, and never less
#: than raw's.
DEFAULT_1M_RETENTION_DAYS: Final = 365
DEFAULT_COMPRESS_DAYS: Final = {"1m": 7, "1h": 30, "1d": 90}
KINDS: Final = ("prices", "telemetry")


@dataclass(frozen=True, slots=True)
class Policies:
    """Days per level (`raw`, `1m`, `1h`, `1d`); 0 keeps everything / never compresses."""

    retention: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    compress: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_COMPRESS_DAYS))

    def __post_init__(self) -> None:
        kept = 0  # the retention of the level below; 0: everything
        for level in LEVELS:
            days = check_days("retention", level, self.retention[level], MIN_RETENTION_DAYS)
            if level != "raw" and _shorter(days, kept):
                raise ValueError(
                    f"retention of {level} ({days or 'keep'} days) is shorter than the level "
                    f"below it ({kept or 'keep'}): a level must outlive what it summarises"
                )
            kept = days
        for level, days in self.compress.items():
            check_days("compress", level, days, MIN_COMPRESS_DAYS)


def _shorter(days: int, kept: int) -> bool:
    """Is a retention of `days` shorter than `kept` (0: forever)?"""
    return bool(days) and (not kept or days < kept)


def default_1m_retention(raw_days: int) -> int:
    return max(raw_days, DEFAULT_1M_RETENTION_DAYS) if raw_days else 0


def check_days(what: str, level: str, days: int, minimum: dict[str, int]) -> int:
    if level not in minimum:
        raise ValueError(f"no {what} setting for {level!r}")
    if days < 0 or (days and days < minimum[level]):
        raise ValueError(f"{what} of {level} must be 0 or >= {minimum[level]} days, not {days}")
    return days


def relation(kind: str, level: str) -> str:
    return kind if level == "raw" else f"{kind}_{level}"


def apply(conn: Connection, policies: Policies) -> None:
    """Make the retention and compression jobs match `policies` (raw compression is fixed by
    sql/timescaledb/0001_hypertables.sql)."""
    current = {
        (row.proc_name, row.hypertable_name): row.config
        for row in conn.execute(
            text(
                "SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs"
                " WHERE proc_name IN ('policy_retention', 'policy_compression')"
            )
        )
    }
    for kind in KINDS:
        for level, days in policies.retention.items():
            _ensure(conn, current, "retention", relation(kind, level), days)
        for level, days in policies.compress.items():
            _ensure(conn, current, "compression", relation(kind, level), days)


_KEYS: Final = {"retention": "drop_after", "compression": "compress_after"}


def _ensure(
    conn: Connection, current: dict[tuple[str, str], dict[str, str]], job: str, name: str, days: int
) -> None:
    config = current.get((f"policy_{job}", name))
    wanted = (f"{days} days" if days != 1 else "1 day") if days else None
    if config is not None and config.get(_KEYS[job]) == wanted:
        return
    if config is None and wanted is None:
        return
    conn.execute(text(f"SELECT remove_{job}_policy(:r, if_exists => TRUE)"), {"r": name})
    if days:
        conn.execute(
            text(f"SELECT add_{job}_policy(:r, {_KEYS[job]} => make_interval(days => :d))"),
            {"r": name, "d": days},
        )
