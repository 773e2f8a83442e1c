"""bench.load's database: the server it starts, when the rows settled, and what they count."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from bench.stack import fresh_database
from devstack.embedded_pg import embedded_postgres
from sql.migrate import upgrade


@contextlib.contextmanager
def database(workdir: Path, server_url: str | None = None) -> Iterator[tuple[str, int | None]]:
    """An embedded PostgreSQL with commit timestamps on, migrated; yields (URL, postmaster pid).
    With `server_url`: a fresh database on that server instead, dropped afterwards (pid None:
    its processes are not sampled; latency needs `track_commit_timestamp` on there)."""
    if server_url is not None:
        with fresh_database(server_url, f"load_{uuid.uuid4().hex[:8]}") as url:
            yield url, None
        return
    with embedded_postgres(workdir / "pg") as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET track_commit_timestamp = on")  # takes a restart
    with embedded_postgres(workdir / "pg") as url:
        upgrade(url)
        pid = int((workdir / "pg" / "data" / "postmaster.pid").read_text().split()[0])
        yield url, pid


def settle(database_url: str, expected_rows: int, timeout: float = 120) -> None:
    """Wait until the telemetry rows reach `expected_rows` or stop moving for 10 s."""
    deadline, last, moved = time.monotonic() + timeout, -1, time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            rows = _scalar(conn, "SELECT count(*) FROM telemetry")
            if rows >= expected_rows:
                time.sleep(1.0)  # a redelivery would show up as a duplicate now
                return
            if rows != last:
                last, moved = rows, time.monotonic()
            elif time.monotonic() - moved > 10:
                return
            time.sleep(0.2)


def tally(database_url: str, prefix: str) -> dict[str, Any]:
    """Rows, distinct readings and duplicates of the devices named `prefix`-…, per-device
    counts, publish → commit latency and dead letters."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        like = f"{prefix}-%"
        rows, keys, readings = conn.execute(
            """SELECT count(*),
                      count(DISTINCT (device_id, metric, time)),
                      count(DISTINCT (device_id, time))
               FROM telemetry WHERE device_id LIKE %s""",
            (like,),
        ).fetchone() or (0, 0, 0)
        low, high, devices = conn.execute(
            """SELECT min(n), max(n), count(*) FROM (
                   SELECT count(DISTINCT time) AS n FROM telemetry
                   WHERE device_id LIKE %s GROUP BY device_id) d""",
            (like,),
        ).fetchone() or (0, 0, 0)
        tracked = conn.execute("SHOW track_commit_timestamp").fetchone()
        p50, p99, worst = (
            (None, None, None)
            if tracked != ("on",)
            else conn.execute(
                """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms)
               FROM (SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin) - time)
                            * 1000 AS ms
                     FROM telemetry WHERE device_id LIKE %s AND metric = 'temperature') r""",
                (like,),
            ).fetchone()
            or (None, None, None)
        )
        dead = _scalar(conn, "SELECT count(*) FROM dead_letters")
    return {
        "rows": rows,
        "readings": readings,
        "dup": rows - keys,
        "per_device": (low, high),
        "devices_seen": devices,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": worst,
        "dead_letters": dead,
    }


def _scalar(conn: psycopg.Connection[Any], query: str) -> int:
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0
