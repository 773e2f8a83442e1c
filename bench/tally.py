"""Exact loss and duplicate counts of an ingest run, from the database itself."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

from bench.workload import Key


@dataclass(frozen=True, slots=True)
class Tally:
    """`lost`: expected keys with no row; `dup`: rows beyond one per key."""

    rows: int
    lost: int
    dup: int
    dead_letters: int


def tally_telemetry(database_url: str, expected: Iterable[Key]) -> Tally:
    """Compare the telemetry table with the keys the workload carried."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "CREATE TEMP TABLE expected (device_id text, metric text, time timestamptz)"
            " ON COMMIT DROP"
        )
        with conn.cursor().copy("COPY expected (device_id, metric, time) FROM STDIN") as copy:
            for key in expected:
                copy.write_row(key)
        counts = conn.execute(
            """SELECT (SELECT count(*) FROM telemetry),
                      (SELECT count(*) FROM (SELECT DISTINCT device_id, metric, time
                                             FROM telemetry) AS keys),
                      (SELECT count(*) FROM expected e WHERE NOT EXISTS (
                           SELECT 1 FROM telemetry t WHERE t.device_id = e.device_id
                           AND t.metric = e.metric AND t.time = e.time)),
                      (SELECT count(*) FROM dead_letters)"""
        ).fetchone()
    assert counts is not None
    rows, distinct, lost, dead = counts
    return Tally(rows=rows, lost=lost, dup=rows - distinct, dead_letters=dead)
