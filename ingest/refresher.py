"""TimescaleDB: the rollup windows late rows need, refreshed without holding up writers.

Rows older than what the refresh policies materialise (store-and-forward replays, backfill:
`rollup.refresh_windows`) are invisible in the continuous aggregates until their window is
refreshed. A batch records those windows in `rollup_pending` in its own transaction, so a
committed row's window is never forgotten, not even by a crash; meanwhile the API reads raw rows
there (api/history/resolution.py), so answers include every committed row. The refresher then
has each window refreshed, finest level first (a level is refreshed from the one below), and
deletes it:

- inside a level's policy window (1m: 3 hours, 1h: 3 days, 1d: 30 days) the policy refreshes
  it: the refresher asks the scheduler to run the policy now and waits for a successful run
  that started after the window was ready. Only the policy refreshes there, so policies never
  fail on a concurrent refresh;
- older than that, only the refresher does: it refreshes the window itself.

A refresh never fails a batch and never holds up a writer. A concurrent refresh of an
overlapping window (SQLSTATE 55P03) is waited out and not counted; any other error is logged
and counted on the window (`attempts`, `last_error`: /metrics shows them), which is retried
with back-off while the coarser levels of its series wait for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import asyncpg

from ingest import pending_windows, refresh_policy, rollup
from tickwire import timegrid
from tickwire.aio import wait_any

log = logging.getLogger("ingest.refresher")

#: Retention policies are read again after this long (they change only with a migration).
_RETENTION_TTL_S: Final = 60.0
#: A window a concurrent refresh held is tried again after this long.
_CONCURRENT_RETRY: Final = timedelta(seconds=1)
#: Back-off after the n-th failure: 2**n seconds, at most this.
_MAX_BACKOFF_S: Final = 300
#: The refresher looks at the table this often without being woken (policy runs it waits for,
#: retries that came due, windows of a restarted or crashed ingester).
POLL_S: Final = 1.0
_LEVEL_RANK: Final = {suffix: rank for rank, (suffix, _) in enumerate(timegrid.LEVELS)}
CONNECTION_ERRORS: Final = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,
)


class RawRetention:
    """Where the raw rows of each table are complete: `now - drop_after` of its retention
    policy (the catalog is read at most once a minute)."""

    def __init__(self) -> None:
        self._drop_after: dict[str, timedelta] = {}
        self._read_at = -_RETENTION_TTL_S

    async def since(self, conn: asyncpg.Connection, table: str) -> datetime | None:
        if time.monotonic() - self._read_at > _RETENTION_TTL_S:
            rows = await conn.fetch(
                "SELECT hypertable_name, (config->>'drop_after')::interval"
                " FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention'"
            )
            self._drop_after = {name: drop_after for name, drop_after in rows}
            self._read_at = time.monotonic()
        drop_after = self._drop_after.get(table)
        return None if drop_after is None else datetime.now(UTC) - drop_after


async def record(
    conn: asyncpg.Connection, table: str, times: Sequence[datetime], retention: RawRetention
) -> int:
    """In the batch's transaction: record the windows its `table` rows at `times` need;
    return how many. Rows older than the raw retention are not folded in (its bucket may have
    lost rows to retention already: a refresh would drop what is left of it)."""
    if not times:
        return 0
    since = await retention.since(conn, table)
    windows = rollup.refresh_windows(min(times), max(times), datetime.now(UTC), since)
    if windows:
        await conn.executemany(
            "INSERT INTO rollup_pending (relation, window_start, window_end) VALUES ($1, $2, $3)",
            [(f"{table}_{suffix}", start, end) for suffix, start, end in windows],
        )
    return len(windows)


@dataclass(slots=True)
class Pass:
    refreshed: int = 0
    covered: int = 0
    deferred: int = 0
    failed: int = 0


async def refresh_pending(conn: asyncpg.Connection, everything: bool = False) -> Pass:
    """One pass over `rollup_pending` on `conn` (outside a transaction), finest level first.
    A window waits while a finer one of its series overlapping it is pending, and is ready
    again once that one is done. `everything`: refresh every window now, policy windows
    included (backfill: no refresher is running)."""
    # Seen here, a window's rows are committed: that is when it is ready.
    await conn.execute("UPDATE rollup_pending SET ready_at = now() WHERE ready_at IS NULL")
    rows = await conn.fetch(
        "SELECT id, relation, window_start, window_end, ready_at, $1 OR retry_at <= now() AS due"
        " FROM rollup_pending ORDER BY relation, window_start",
        everything,
    )
    if not rows:
        return Pass()
    policies = {} if everything else await refresh_policy.policies(conn)
    now = await conn.fetchval("SELECT now()")
    done = Pass()
    waiting: list[pending_windows.Window] = []
    finished: list[pending_windows.Window] = []
    for window in sorted(
        pending_windows.merged(rows), key=lambda w: (_LEVEL_RANK[w.level], w.kind, w.start)
    ):
        if any(w.kind == window.kind and w.overlaps(window) for w in waiting):
            await pending_windows.ready_now(conn, window)  # its source is not complete yet
            waiting.append(window)
            continue
        if any(w.kind == window.kind and w.overlaps(window) for w in finished):
            await pending_windows.ready_now(conn, window)  # its source just became complete
        policy = policies.get(window.relation)
        width = timegrid.WIDTHS[window.level]
        handoff = window.end if policy is None else policy.handoff(now, width)
        if window.start < handoff and not (
            window.due and await _refresh_own(conn, window, handoff, done)
        ):
            waiting.append(window)
            continue
        if window.end <= handoff:
            finished.append(window)
            continue
        assert policy is not None
        if policy.covered(window, width):
            await pending_windows.delete(conn, window.ids)
            done.covered += 1
            finished.append(window)
            continue
        if policy.idle_since(window.ready_at, now):
            await conn.execute("SELECT alter_job($1, next_start => now())", policy.job_id)
        waiting.append(window)
    return done


async def _refresh_own(
    conn: asyncpg.Connection, window: pending_windows.Window, handoff: datetime, done: Pass
) -> bool:
    """Refresh the part of `window` before `handoff`; whether that succeeded (what is left of
    the window is the policy's)."""
    end = min(window.end, handoff)
    error = await _refresh(conn, window.relation, window.start, end)
    if error is None:
        await pending_windows.delete(conn, window.ids, None if end == window.end else end)
        window.start = end
        done.refreshed += 1
        return True
    if isinstance(error, asyncpg.exceptions.LockNotAvailableError):
        log.debug("refresh of %s deferred: %s", window.relation, error)
        await conn.execute(
            "UPDATE rollup_pending SET retry_at = now() + $2 WHERE id = ANY($1::bigint[])",
            window.ids,
            _CONCURRENT_RETRY,
        )
        done.deferred += 1
        return False
    attempts = await conn.fetchval(
        """UPDATE rollup_pending SET attempts = attempts + 1, last_error = $2,
               retry_at = now() + make_interval(secs => least(2 ^ (attempts + 1), $3))
           WHERE id = ANY($1::bigint[]) RETURNING attempts""",
        window.ids,
        f"{error.sqlstate}: {error}"[:500],
        _MAX_BACKOFF_S,
    )
    log.error(
        "refresh of %s [%s, %s) failed (%s: %s), attempt %s; it stays pending",
        window.relation,
        window.start.isoformat(),
        end.isoformat(),
        error.sqlstate,
        error,
        attempts,
    )
    done.failed += 1
    return False


async def _refresh(
    conn: asyncpg.Connection, relation: str, start: datetime, end: datetime
) -> asyncpg.PostgresError | None:
    # CALL cannot run in a transaction block: simple protocol, literal arguments.
    statement = (
        f"CALL refresh_continuous_aggregate('{relation}', "
        f"'{start.isoformat()}'::timestamptz, '{end.isoformat()}'::timestamptz)"
    )
    try:
        await conn.execute(statement)
    except asyncpg.PostgresError as exc:
        if isinstance(exc, CONNECTION_ERRORS):
            raise
        return exc
    return None


class Refresher:
    """The ingester's refresher task: a pass whenever a batch recorded windows (`wake`), and
    every `POLL_S` anyway; its own connection, re-opened after a failure."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.woken = asyncio.Event()

    def wake(self) -> None:
        self.woken.set()

    async def run(self, stop: asyncio.Event) -> None:
        conn: asyncpg.Connection | None = None
        try:
            while not stop.is_set():
                self.woken.clear()
                done = Pass()
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(self.database_url)
                    done = await refresh_pending(conn)
                except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                    log.warning("rollup refresher failed (%s); retrying on a new connection", exc)
                    if conn is not None:
                        conn.terminate()
                except Exception:  # the top of a task: ingest must go on whatever happens here
                    log.exception("rollup refresher failed; retrying")
                    if conn is not None:
                        conn.terminate()
                if not (done.refreshed or done.covered):  # else coarser levels may be ready
                    await wait_any([stop, self.woken], POLL_S)
        finally:
            if conn is not None:
                await conn.close()


async def refresh_all(conn: asyncpg.Connection) -> None:
    """Refresh every pending window now, waiting out concurrent refreshes (backfill: no
    refresher task may be running); windows that fail stay pending."""
    for _ in range(600):  # a concurrent refresh takes seconds at most
        if not (await refresh_pending(conn, everything=True)).deferred:
            return
        await asyncio.sleep(0.2)
