"""Writing a batch: one transaction with binary COPY, dedup on natural keys, rollups, and the
batch's stream events appended last (`tickwire.journal`, NOTIFY on commit).

Nothing is acknowledged to the broker before this transaction commits, so a crash at any point
leads to redelivery, and the natural keys turn redelivery into duplicates that are skipped (and
streamed once: events are built from the rows actually inserted).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import asyncpg

from ingest import feed, partials, refresher, rollup, telemetry_copy
from ingest.backlog import CAUGHT_UP_S
from ingest.batch import Batch, DeadLetter, Item, dead_letter
from ingest.feed import Committed
from ingest.fresh import FreshDevices
from ingest.identity import Identity
from ingest.replay import settle
from ingest.rows import PRICE_KEY, TELEMETRY_KEY, Rows, first_of_each, flatten
from ingest.stats import Stats
from tickwire import journal
from tickwire.contract import PriceRow, TelemetryRow
from tickwire.events import device_status_event, price_events, telemetry_events
from tickwire.journal import CONFIG_CHANNEL

log = logging.getLogger("ingest.writer")

_KNOWN_TTL_S: Final = 30.0
_PRICE_COLUMNS: Final = ("time", "ticker", "price", "volume", "source")
_TELEMETRY_COLUMNS: Final = telemetry_copy.COLUMNS
_DEAD_LETTER_COLUMNS: Final = (
    "received_at",
    "topic",
    "payload",
    "payload_size",
    "reason",
    "detail",
)

#: Devices with a longer offline timeout have their `last_seen` written at a bounded rate.
_RATE_BOUNDED_ABOVE_S: Final = CAUGHT_UP_S * 4 / 3

#: Batches of fewer rows of a table skip COPY and the plain-COPY path: their rows go as
#: array parameters of the dedup statement (COPY and the savepoint take four round trips).
FAST_PATH_ROWS: Final = 200

#: Devices heard from whose row needs writing: not ONLINE, or `last_seen` older than the
#: batch's by more than the bounded rate allows ($3 s, at most a quarter of the device's
#: timeout). Locked first in one order (concurrent writers cannot deadlock); the locking read
#: returns the latest committed status, which the UPDATE keeps (it re-reads a row a
#: concurrent transaction changed). Fresh ONLINE devices are neither locked nor written. Every
#: row written comes back with the time until which it stays fresh (`fresh_until`: None when
#: every message counts), so that the writers leave fresh devices out of the arrays too
#: (`ingest.fresh`); those that changed status (`previous`) get their ONLINE event.
#: The alert engine's OFFLINE guard (`last_seen <= basis`) still sees every message it could
#: miss: one received within a quarter of the timeout after the written last_seen, committed
#: only after the deadline, waited over ¾ of the timeout, so the engine holds OFFLINE back
#: (not caught up) when the timeout exceeds $4 s; shorter timeouts are not rate-bounded.
_SEEN_SQL: Final = """
WITH v AS (SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS v(id, seen)),
due AS (
    SELECT d.device_id, d.status, v.seen FROM devices d JOIN v ON d.device_id = v.id
    WHERE d.status <> 'ONLINE' OR d.last_seen IS NULL OR d.offline_timeout_s <= $4
       OR d.last_seen < v.seen - make_interval(secs => least($3, d.offline_timeout_s / 4))
    ORDER BY d.device_id FOR UPDATE OF d
),
updated AS (
    UPDATE devices d SET last_seen = greatest(d.last_seen, due.seen), status = 'ONLINE',
        updated_at = now()
    FROM due WHERE d.device_id = due.device_id
    RETURNING d.device_id, due.status AS previous, d.last_seen,
        CASE WHEN d.offline_timeout_s > $4
             THEN d.last_seen + make_interval(secs => least($3, d.offline_timeout_s / 4))
        END AS fresh_until
)
SELECT * FROM updated"""


@dataclass(slots=True)
class Outcome:
    inserted: int
    duplicates: int
    dead_lettered: int
    committed: Committed
    events: list[journal.Event]
    feed_id: int = 0
    """The batch's `alert_feed` id (0: none appended)."""
    written: list[tuple[str, datetime | None]] = field(default_factory=list)
    """Devices whose row the batch wrote, and until when it stays fresh (`ingest.fresh`)."""


class _Undo(Exception):
    """Rolls a savepoint back (`Writer._copy_savepoint`)."""


class _Statements:
    """The batch statements of one rollup upkeep, per table (`ingest.rollup`)."""

    def __init__(self, upkeep: rollup.Upkeep) -> None:
        tables = ("prices", "telemetry")
        self.dedup = {t: rollup.insert_statement(t, upkeep) for t in tables}
        self.small = {t: rollup.insert_statement(t, upkeep, arrays=True) for t in tables}
        self.all_new_prices = rollup.insert_all_statement("prices", upkeep)
        """Prices of a batch none of which is stored yet, from the stage (an all-new batch of
        telemetry is COPYed straight into its table: `Writer._copy_new`)."""
        self.partials = None if upkeep is rollup.Upkeep.NONE else rollup.partials_statement(upkeep)
        """Telemetry COPYed straight into its table: the rollups' upkeep from its partials."""
        self.pending = (
            rollup.pending_statement("telemetry") if upkeep is rollup.Upkeep.DEFER else None
        )
        """Deferred upkeep of many partials: they are COPYed into `rollup_delta_telemetry`
        and this records their window (`Writer._keep_partials`)."""


class Writer:
    """Owns the writer's database connection and the cache of known devices and tickers."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        backend: str,
        auto_register: bool,
        on_late: Callable[[], None] | None = None,
        seen_interval_s: float = 1.0,
        defer_rollups: bool = False,
        fresh: FreshDevices | None = None,
    ) -> None:
        self.conn = conn
        self.backend = backend
        self.auto_register = auto_register
        self._identity = Identity(auto_register)
        self.on_late = on_late
        """Called after a commit that recorded rollup windows to refresh (TimescaleDB)."""
        self._retention = refresher.RawRetention()
        self._known_tickers: set[str] = set()
        self._known_since = time.monotonic()
        self.defer_rollups = defer_rollups and backend == "postgres"
        """Plain PostgreSQL: batches append rollup partials for `ingest.merger` (backfill
        still merges in its own statement)."""
        merge = rollup.Upkeep.MERGE if backend == "postgres" else rollup.Upkeep.NONE
        self._merged = _Statements(merge)
        self._live = _Statements(rollup.Upkeep.DEFER) if self.defer_rollups else self._merged
        self.seen_interval_s = seen_interval_s
        """A device's `last_seen` is written at most this often while it stays ONLINE."""
        self.fresh = FreshDevices() if fresh is None else fresh
        """Device rows written ONLINE and fresh (shared by a process's writers; heard
        changes only once `prepare` listens)."""

    async def prepare(self) -> None:
        await self.conn.add_listener(CONFIG_CHANNEL, self.fresh.notified)
        for table in ("prices", "telemetry"):
            await self.conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS stage_{table} "
                f"(LIKE {table}) ON COMMIT DELETE ROWS"
            )
        if self._live.partials is not None:
            # Its array types are looked up once per connection: here, not in the first batch.
            await self.conn.prepare(self._live.partials)
        with contextlib.suppress(asyncpg.InvalidParameterValueError):
            # The feed's and the journal's JSON (~1 MB per 10 000-row batch) is TOASTed: lz4
            # compresses it at a fifth of pglz's CPU. A server built without lz4 keeps pglz.
            await self.conn.execute("SET default_toast_compression = lz4")

    async def write(self, batch: Batch, stats: Stats, instance: str) -> Outcome:
        """Commit the batch; raise on connection errors (the caller retries it whole)."""
        started = time.perf_counter()
        self._forget_stale_registrations()
        verdict = await self._identity.check(self.conn, batch.items)
        rows = flatten(batch.items, verdict)
        async with self.conn.transaction():
            outcome = await self._write_rows(rows, self._live)
            await self._record(stats, outcome, started, instance, batch.retained)
            late = await self._record_late(outcome.committed)
            outcome.feed_id = await feed.append(self.conn, outcome.committed)  # before the journal
            await journal.append(self.conn, outcome.events)  # last: see tickwire.journal
        self.remember_registered(rows)
        for device_id, fresh_until in outcome.written:
            self.fresh.written(device_id, fresh_until)
        if late and self.on_late is not None:
            self.on_late()
        return outcome

    async def backfill(self, prices: list[PriceRow], telemetry: list[TelemetryRow]) -> int:
        """Write rows that did not come over MQTT (backfill, tests, benchmarks) the same way:
        dedup on the natural keys, rollups, TimescaleDB refresh; not streamed (not live data).
        Returns rows inserted."""
        rows = Rows(prices=prices, telemetry=telemetry, devices={row[1] for row in telemetry})
        async with self.conn.transaction():
            outcome = await self._write_rows(rows, self._merged)
            late = await self._record_late(outcome.committed)
        self.remember_registered(rows)
        if late:
            await refresher.refresh_all(self.conn)
        return outcome.inserted

    async def _write_rows(self, rows: Rows, sql: _Statements) -> Outcome:
        await self._register(rows)
        prices: list[PriceRow] = await self._insert(
            sql, "prices", rows.prices, PRICE_KEY, _PRICE_COLUMNS
        )
        telemetry: list[TelemetryRow] = await self._insert(
            sql, "telemetry", rows.telemetry, TELEMETRY_KEY, _TELEMETRY_COLUMNS
        )
        rows.dead += await self._apply_command_acks(rows.acks)
        inserted = len(prices) + len(telemetry)
        staged = len(rows.prices) + len(rows.telemetry)
        if rows.replay is not None:
            # Not a new dead letter: the replayed one is settled, with its new reason if any.
            await settle(self.conn, rows.replay, rows.dead, inserted, staged - inserted)
            rows.dead = []
        events = price_events(prices) + telemetry_events(telemetry)
        online: dict[str, str] = {}
        written: list[tuple[str, datetime | None]] = []
        due = self.fresh.due(rows.seen)
        if due:
            devices = sorted(due)  # lock order: concurrent writers cannot deadlock
            seen = [due[device] for device in devices]
            changed = await self.conn.fetch(
                _SEEN_SQL, devices, seen, self.seen_interval_s, _RATE_BOUNDED_ABOVE_S
            )
            for device_id, previous, last_seen, fresh_until in changed:
                written.append((device_id, fresh_until))
                if previous != "ONLINE":
                    online[device_id] = previous
                    events.append(device_status_event(device_id, "ONLINE", last_seen))
        if rows.dead:
            await self.conn.copy_records_to_table(
                "dead_letters", records=rows.dead, columns=_DEAD_LETTER_COLUMNS
            )
        committed = Committed(prices, telemetry, rows.seen, online, rows.received_at)
        return Outcome(
            inserted, staged - inserted, len(rows.dead), committed, events, written=written
        )

    async def _insert(
        self,
        sql: _Statements,
        table: str,
        rows: Sequence[tuple[Any, ...]],
        key: Callable[[Any], Hashable],
        columns: tuple[str, ...],
    ) -> list[Any]:
        """Insert `rows` with their rollups' upkeep, a natural `key` once (the first
        received wins); return the rows inserted. Fast path for a large batch: none is stored
        yet, so all are inserted and nothing comes back from the server; telemetry is COPYed
        straight into its table (its rollup partials computed here), prices staged with COPY
        and inserted from there. A unique violation (a redelivery) rolls that back and takes
        the dedup path: staged, `INSERT … ON CONFLICT DO NOTHING`, which returns the rows it
        inserted."""
        if not rows:
            return []
        if table == "telemetry" and len(rows) >= FAST_PATH_ROWS:
            copied = await self._copy_new(sql, rows, key, columns)
            if copied is not None:
                return copied
        records = first_of_each(rows, key)
        if len(records) < FAST_PATH_ROWS:
            # Few rows: sent as one array per column with the dedup statement, one round trip
            # (no COPY, no savepoint); what they insert comes back, cheap at this size.
            arrays = [list(column) for column in zip(*records, strict=True)]
            return [tuple(r) for r in await self.conn.fetch(sql.small[table], *arrays)]
        await self._copy(f"stage_{table}", records, columns)
        if table == "prices":
            try:
                async with self.conn.transaction():  # a savepoint
                    await self.conn.execute(sql.all_new_prices)
                return list(records)
            except asyncpg.UniqueViolationError:
                pass
        return [tuple(r) for r in await self.conn.fetch(sql.dedup[table])]

    async def _copy_new(
        self,
        sql: _Statements,
        rows: Sequence[TelemetryRow],
        key: Callable[[TelemetryRow], Hashable],
        columns: tuple[str, ...],
    ) -> list[TelemetryRow] | None:
        """COPY telemetry rows straight into `telemetry` in a savepoint, then keep the
        rollups from their partials; return the rows inserted, or None (nothing written) if
        any key is stored already, or a partial's sum is not finite.

        The rows go as they came: the unique index refuses a key twice in the batch as it
        refuses one stored already, so a COPY that succeeds had no key twice (the partials'
        premise), and no pass over the batch looks for one. Refused, the batch without its
        repeated keys (`first_of_each`), if it had any, is COPYed once more."""
        copied = await self._copy_savepoint(sql, rows, columns)
        if copied is not None:
            return copied
        first = first_of_each(rows, key)
        if first is rows:
            return None  # no key twice: one is stored already
        return await self._copy_savepoint(sql, first, columns)

    async def _copy_savepoint(
        self, sql: _Statements, records: Sequence[TelemetryRow], columns: tuple[str, ...]
    ) -> list[TelemetryRow] | None:
        upkeep = sql.partials
        try:
            async with self.conn.transaction():  # a savepoint
                await self._copy("telemetry", records, columns)
                if upkeep is not None:
                    parts = partials.parts(records)
                    if parts is None:
                        # A sum PostgreSQL refuses: undone, the SQL path refuses it as before.
                        raise _Undo
                    await self._keep_partials(sql, upkeep, parts)
        except (asyncpg.UniqueViolationError, _Undo):
            return None
        return list(records)

    async def _copy(
        self, table: str, records: Sequence[tuple[Any, ...]], columns: tuple[str, ...]
    ) -> None:
        """Binary COPY of `records` into `table`; telemetry rows encoded by
        `ingest.telemetry_copy` (asyncpg's generic encoding when that refuses one)."""
        if columns == telemetry_copy.COLUMNS:
            try:
                data = telemetry_copy.encode(records)
            except telemetry_copy.Unencodable:
                pass
            else:
                await self.conn.copy_to_table(table, source=data, columns=columns, format="binary")
                return
        await self.conn.copy_records_to_table(table, records=records, columns=columns)

    async def _keep_partials(self, sql: _Statements, upkeep: str, parts: list[list[Any]]) -> None:
        """The rollups' upkeep from a batch's partials (`partials.parts`). Deferred and many
        (a big fleet: about one partial per row), they are binary-COPYed into
        `rollup_delta_telemetry` (encoded by `partials.encode`) and their window recorded;
        few, or merged, they go as array parameters of one statement (one round trip; asyncpg
        checks every array element's type in Python, which costs more than the round trips
        saved once there are many)."""
        if sql.pending is None or len(parts) < FAST_PATH_ROWS:
            await self.conn.execute(upkeep, *partials.columns(parts))
            return
        table, columns = "rollup_delta_telemetry", partials.COLUMNS
        try:
            data = partials.encode(parts)
        except telemetry_copy.Unencodable:
            records = [part[: len(columns)] for part in parts]
            await self.conn.copy_records_to_table(table, records=records, columns=columns)
        else:
            await self.conn.copy_to_table(table, source=data, columns=columns, format="binary")
        buckets = [part[0] for part in parts]
        await self.conn.execute(sql.pending, min(buckets), max(buckets))

    def _forget_stale_registrations(self) -> None:
        """Devices and stocks may be deleted through the API: re-check what we know now and then."""
        if time.monotonic() - self._known_since > _KNOWN_TTL_S:
            self._identity.registered.clear()
            self._known_tickers.clear()
            self._known_since = time.monotonic()

    async def _register(self, rows: Rows) -> None:
        """Auto-register new devices (never a retired id), tickers, and the tickers new and
        auto-registered feeds publish (no-op for those already seen)."""
        devices = (rows.devices | set(rows.seen)) - self._identity.registered
        if not self.auto_register:
            devices = set()
        tickers = {row[1] for row in rows.prices} - self._known_tickers
        if devices:
            await self.conn.execute(
                """INSERT INTO devices (device_id, name, auto_registered)
                   SELECT id, id, true FROM unnest($1::text[]) AS id
                   WHERE NOT EXISTS (SELECT FROM device_tombstones t WHERE t.device_id = id)
                   ON CONFLICT (device_id) DO NOTHING""",
                sorted(devices),
            )
        if tickers:
            await self.conn.execute(
                """INSERT INTO stocks (ticker) SELECT unnest($1::text[])
                   ON CONFLICT (ticker) DO NOTHING""",
                sorted(tickers),
            )
        if rows.gained:
            pairs = sorted(rows.gained)
            await self.conn.execute(
                """INSERT INTO device_tickers (device_id, ticker)
                   SELECT v.device_id, v.ticker FROM unnest($1::text[], $2::text[])
                       AS v(device_id, ticker)
                   WHERE EXISTS (SELECT FROM devices d WHERE d.device_id = v.device_id)
                   ON CONFLICT DO NOTHING""",
                [p[0] for p in pairs],
                [p[1] for p in pairs],
            )

    def remember_registered(self, rows: Rows) -> None:
        if self.auto_register:
            self._identity.registered.update(rows.seen, rows.devices)
        self._known_tickers.update(row[1] for row in rows.prices)

    async def _apply_command_acks(self, acks: list[Item]) -> list[DeadLetter]:
        """Settle pending commands; an ack for no pending command of that device dead-letters."""
        dead: list[DeadLetter] = []
        for item in acks:
            assert item.parsed is not None and item.parsed.ack is not None
            device_id, ack = item.parsed.device_id, item.parsed.ack
            command_id, status, detail = ack.command_id, ack.status, ack.detail
            updated = await self.conn.fetchval(
                """UPDATE device_commands SET status = $3, detail = $4, acked_at = now()
                   WHERE id = $1::uuid AND device_id = $2 AND status = 'pending'
                   RETURNING true""",
                command_id,
                device_id,
                status,
                detail,
            )
            if not updated:
                reason = f"no pending command {command_id} for {device_id}"
                dead.append(dead_letter(item, "unknown_command", reason))
        return dead

    async def _record(
        self, stats: Stats, outcome: Outcome, started: float, instance: str, retained: int
    ) -> None:
        elapsed = time.perf_counter() - started
        stats.committed(
            outcome.inserted, outcome.duplicates, outcome.dead_lettered, elapsed, retained
        )
        await self.conn.execute(
            """INSERT INTO ingest_status AS s (instance, started_at, last_commit_at, received,
                   committed_rows, duplicates, dead_lettered, batches, batch_seconds,
                   retained_ignored)
               VALUES ($1, $2, now(), $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (instance) DO UPDATE SET last_commit_at = now(),
                   received = excluded.received, committed_rows = excluded.committed_rows,
                   duplicates = excluded.duplicates, dead_lettered = excluded.dead_lettered,
                   batches = excluded.batches, batch_seconds = excluded.batch_seconds,
                   retained_ignored = excluded.retained_ignored""",
            instance,
            stats.started_at,
            stats.received,
            stats.committed_rows,
            stats.duplicates,
            stats.dead_lettered,
            stats.batches,
            stats.batch_seconds,
            stats.retained_ignored,
        )

    async def _record_late(self, committed: Committed) -> bool:
        """TimescaleDB: record the rollup windows the inserted rows need refreshed, in the
        batch's transaction (`ingest.refresher`); whether there were any."""
        if self.backend != "timescaledb":
            return False
        prices = [row[0] for row in committed.prices]
        telemetry = [row[0] for row in committed.telemetry]
        recorded = await refresher.record(self.conn, "prices", prices, self._retention)
        recorded += await refresher.record(self.conn, "telemetry", telemetry, self._retention)
        return recorded > 0
