"""The alert engine: fed from committed data (`ingest.feed`: every batch any ingester
committed, in commit order), with a timer for OFFLINE deadlines and a configuration that
follows the database (`tickwire_config` notifications).

One engine leads per database (`leadership`: a PostgreSQL advisory lock held by its
connection); others wait on standby. The leader does everything on that one connection, in
order: the alert changes a stretch of the feed causes are written in one transaction with the
cursor past that stretch (alert rows, alert_events, runs, cursor, then the journal events,
last), so a new leader resumes exactly where the old one committed. State lives in memory and
is rebuilt from the database on taking the lead and after any failure: open alerts, device
statuses and last receive times (`deadlines`: when OFFLINE counts), threshold runs,
PRICE_MOVE windows from the prices table.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg

from ingest import feed
from ingest.alerts import config as cfg
from ingest.alerts import leadership, runs, store
from ingest.alerts.catalog import Spec, build, device_specs
from ingest.alerts.config import AlertKey, OpenAlert
from ingest.alerts.deadlines import Deadlines
from ingest.alerts.evaluator import Clear, Evaluator, Raise, Transition
from ingest.alerts.hearing import Hearing
from ingest.alerts.liveness import Due
from ingest.feed import Committed
from tickwire.aio import wait_any
from tickwire.journal import CONFIG_CHANNEL

log = logging.getLogger("ingest.alerts")

_WARM_ROWS = 100_000
"""At most this many recent prices warm a PRICE_MOVE window at start."""
_FEED_POLL_S: Final = 1.0
"""The feed is read at least this often (its NOTIFY wakes the engine sooner)."""
_FEED_PAGE: Final = 200
"""Feed entries (batches) evaluated and committed together…"""
_FEED_PAGE_BYTES: Final = 8 << 20
"""…and at most about this much of their JSON (at least one entry)."""


class Engine:
    def __init__(
        self,
        database_url: str,
        max_lag_s: float,
        attentive: Sequence[asyncio.Event] = (),
        caught_up: Callable[[], bool] | None = None,
        hearing: Hearing | None = None,
        name: str = "engine",
    ) -> None:
        """`attentive`: events all set while this process's ingester hears the broker and the
        database takes its batches; `caught_up`: whether it has no backlog to work through;
        `hearing`: the same of every ingester, from their heartbeats. While any of them is
        not so, no device is declared OFFLINE (`deadlines`). An engine taking the lead counts
        as having been deaf."""
        self._url = database_url
        self._max_lag_s = max_lag_s
        self._deadlines = Deadlines(
            attentive, caught_up, hearing or Hearing(5.0, 30.0, need_one=False)
        )
        self.name = name
        self.cursor = 0
        """The last feed id whose changes are committed."""
        self._arrived = asyncio.Event()
        self._reload = asyncio.Event()
        self._local = feed.Local()
        self._leading = False
        self._changed: set[str] = set()
        """Devices notified as registered, changed or deleted since they were last read."""
        self._reset()

    def committed(self, batch: Committed | None = None, feed_id: int = 0) -> None:
        """The writer's `on_commit` in this process: read the feed now (never blocks); the
        batch is kept so its entry's data need not be fetched back (`feed.Local`)."""
        if batch is not None and self._leading and feed_id > self.cursor:
            self._local.add(feed_id, batch)
        self._arrived.set()

    async def run(self, done: asyncio.Event) -> None:
        """Lead (or wait to) until `done` is set; a leader then handles the feed committed
        before. A failure (the database went away) starts over: elect, rebuild, resume."""
        await leadership.lead(self._url, self.name, done, lambda conn: self._leader(conn, done))

    def _reset(self) -> None:
        self._deadlines.reset()
        self._evaluator = Evaluator(self._max_lag_s)
        self._open: dict[AlertKey, OpenAlert] = {}
        self._config = cfg.Config()
        self._devices: dict[str, cfg.Device] = self._config.devices
        self._warm_before: float | None = None
        """On taking the lead: prices from here on are still in the feed, not warmed."""
        self._absent: set[str] = set()
        """Devices in the feed but not in the database at the last load (deleted meanwhile)."""

    async def _leader(self, conn: asyncpg.Connection, done: asyncio.Event) -> None:
        """`_lead`, keeping this process's committed batches meanwhile (`feed.Local`)."""
        self._leading = True
        try:
            await self._lead(conn, done)
        finally:
            self._leading = False
            self._local.clear()

    async def _lead(self, conn: asyncpg.Connection, done: asyncio.Event) -> None:
        await conn.add_listener(CONFIG_CHANNEL, self._config_changed)
        await conn.add_listener(feed.FEED_CHANNEL, self._feed_arrived)
        self._reset()
        await self._take_over(conn)
        more = True
        while True:
            stopping = done.is_set()
            if not more:
                await self._wait(done)
            if self._reload.is_set():
                await self._load(conn)
            elif self._changed:
                await self._load_devices(conn, self._changed)
            more = await self._drain(conn)
            if stopping and not more:
                return
            if not more:
                await self._fire(conn)

    async def _take_over(self, conn: asyncpg.Connection) -> None:
        """Rebuild from the database: the cursor, the configuration and open alerts, the
        runs; PRICE_MOVE windows from prices older than any reading still to evaluate."""
        self.cursor = int(await conn.fetchval("SELECT cursor FROM alert_engine"))
        first = (await feed.read(conn, self.cursor, 1)).entries
        self._warm_before = (
            None if not first else first[0].committed.received_at.timestamp() - self._max_lag_s
        )
        await self._load(conn, started=time.time())
        self._warm_before = None
        runs.restore(self._evaluator.machines, await runs.load(conn))

    def _feed_arrived(self, *_args: Any) -> None:
        self._arrived.set()

    def _config_changed(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        """`devices:<op>:<id>` names one device (read again alone; `STATUS`, its status or
        last_seen set by someone, changes nothing here); anything else (a table's name) has
        everything read again (migration 0013)."""
        named = payload.split(":", 2)
        if len(named) == 3 and named[0] == "devices":
            if named[1] != "STATUS":
                self._changed.add(named[2])
                self._arrived.set()
        else:
            self._reload.set()

    async def _wait(self, done: asyncio.Event) -> None:
        if self._arrived.is_set() or self._reload.is_set() or done.is_set():
            self._arrived.clear()
            return
        self._arrived.clear()
        unset, timeout = self._deadlines.waits()
        await wait_any(
            [self._arrived, self._reload, done, *unset],
            _FEED_POLL_S if timeout is None else min(timeout, _FEED_POLL_S),
        )

    async def _load(self, conn: asyncpg.Connection, started: float | None = None) -> None:
        """(Re)read the configuration and the open alerts; clear alerts whose condition is gone."""
        self._reload.clear()
        self._changed = set()
        self._absent = set()
        config = await cfg.load(conn)
        self._open = await cfg.load_open(conn)
        self._config, self._devices = config, config.devices
        catalog = build(config)
        for spec in self._evaluator.rebuild(catalog, self._open):
            await self._warm(conn, spec)
        for device in config.devices.values():
            not_before = 0.0 if started is None else started + device.offline_timeout_s
            last_seen = None if device.last_seen is None else device.last_seen.timestamp()
            offline = device.status == "OFFLINE"
            self._deadlines.liveness.watch(
                device.device_id, last_seen, device.offline_timeout_s, offline, not_before
            )
        self._deadlines.liveness.keep(config.devices.keys())
        gone = [
            Clear(key, "its rule or device was removed, disabled or replaced")
            for key in self._open
            if key not in catalog.specs
        ]
        await self._apply(conn, gone)

    async def _load_devices(self, conn: asyncpg.Connection, device_ids: set[str]) -> None:
        """Read these devices again (registered, changed, deleted, or heard from and unknown)
        and their open alerts; replace their specs alone, clear alerts whose spec is gone. The
        rest of the configuration is as last loaded: a change to it reloads everything."""
        self._changed = self._changed - device_ids
        devices, open_alerts = await cfg.load_devices(conn, device_ids)
        catalog = self._evaluator.catalog
        liveness = self._deadlines.liveness
        removed: list[Spec] = []
        added: list[Spec] = []
        for device_id in device_ids:
            removed += catalog.remove_device(device_id)
            device = devices.get(device_id)
            if device is None:
                self._devices.pop(device_id, None)
                liveness.forget(device_id)
                continue
            self._devices[device_id] = device
            for spec in device_specs(self._config, device):
                catalog.add(spec)
                added.append(spec)
            last_seen = None if device.last_seen is None else device.last_seen.timestamp()
            offline = device.status == "OFFLINE"
            liveness.watch(device_id, last_seen, device.offline_timeout_s, offline)
        for spec in removed:
            self._open.pop(spec.key, None)
        self._open.update(open_alerts)
        self._evaluator.replace(removed, added, self._open)
        gone = [
            Clear(key, "its rule or device was removed, disabled or replaced")
            for key in open_alerts
            if key not in catalog.specs
        ]
        await self._apply(conn, gone)

    async def _warm(self, conn: asyncpg.Connection, spec: Spec) -> None:
        rows = await conn.fetch(
            """SELECT ts, price FROM (
                   SELECT extract(epoch FROM time)::float8 AS ts, price FROM prices
                   WHERE ticker = $1 AND time >= now() - make_interval(secs => $2)
                     AND ($4::float8 IS NULL OR time < to_timestamp($4))
                   ORDER BY time DESC LIMIT $3) recent
               ORDER BY ts""",
            spec.key.subject,
            spec.window_s,
            _WARM_ROWS,
            self._warm_before,
        )
        self._evaluator.warm(spec, [(r["ts"], r["price"]) for r in rows])

    async def _drain(self, conn: asyncpg.Connection) -> bool:
        """Evaluate a page of the feed after the cursor; its changes, runs and the cursor past
        it commit together. True when the page was full (more to read at once)."""
        entries, more = await feed.read(
            conn, self.cursor, _FEED_PAGE, _FEED_PAGE_BYTES, self._local
        )
        if not entries:
            return False
        if entries[0].id != self.cursor + 1:
            log.warning(
                "feed entries %d to %d were pruned unread: starting over from the database",
                self.cursor + 1,
                entries[0].id - 1,
            )
            await conn.execute("UPDATE alert_engine SET cursor = $1", entries[0].id - 1)
            self._reset()
            await self._take_over(conn)
            return True
        batches = [entry.committed for entry in entries]
        liveness = self._deadlines.liveness
        unknown = {d for b in batches for d in b.seen if not liveness.known(d)}
        if unknown - self._absent:
            # auto-registered devices: their built-ins, their timeout
            await self._load_devices(conn, unknown - self._absent)
            self._absent |= {d for d in unknown if not liveness.known(d)}
        transitions: list[Transition] = []
        for batch in batches:
            transitions += self._evaluate(batch)
        touched, self._evaluator.touched = self._evaluator.touched, set()
        last = entries[-1].id
        async with store.transaction(conn) as tx:
            await self._write(tx, transitions)
            await runs.save(conn, self._evaluator.machines, touched)
            await conn.execute("UPDATE alert_engine SET cursor = $1", last)
        self.cursor = last
        return more

    def _evaluate(self, batch: Committed) -> list[Transition]:
        self._deadlines.liveness.seen_all((d, at.timestamp()) for d, at in batch.seen.items())
        out: list[Transition] = []
        catalog = self._evaluator.catalog
        for device_id, previous in batch.online.items():
            if previous != "OFFLINE":
                continue
            out += [Clear(s.key, "the device is online again") for s in catalog.offline[device_id]]
            online = catalog.online.get(device_id)
            if online is not None:
                out.append(Raise(online, None, "first message after OFFLINE"))
        out += self._evaluator.telemetry(batch.telemetry, batch.received_at)
        out += self._evaluator.prices(batch.prices, batch.received_at)
        return out

    async def _fire(self, conn: asyncpg.Connection) -> None:
        """Handle the OFFLINE deadlines that came due (none while an ingester is deaf or
        behind)."""
        for due in await self._deadlines.due(conn):
            if due.offset == 0:
                await self._went_offline(conn, due)
                continue
            specs = self._evaluator.catalog.offline[due.device_id]
            await self._apply(
                conn, [self._offline(s, due) for s in specs if s.duration_s == due.offset]
            )

    async def _went_offline(self, conn: asyncpg.Connection, due: Due) -> None:
        """Mark the device OFFLINE, clear its ONLINE alert, raise its OFFLINE ones (one
        transaction), unless a message was committed meanwhile."""
        catalog = self._evaluator.catalog
        specs = catalog.offline[due.device_id]
        transitions: list[Transition] = [self._offline(s, due) for s in specs if not s.duration_s]
        online = catalog.online.get(due.device_id)
        if online is not None:
            transitions.insert(0, Clear(online.key, "the device went offline"))
        basis = datetime.fromtimestamp(due.basis, UTC)
        async with store.transaction(conn) as tx:
            went = await tx.set_offline(due.device_id, basis)
            if went:
                await self._write(tx, transitions)
        if went:
            later = tuple(sorted({s.duration_s for s in specs if s.duration_s > 0}))
            self._deadlines.liveness.went_offline(due.device_id, later)
        else:
            await self._deadlines.recheck(conn, due)

    def _offline(self, spec: Spec, due: Due) -> Raise:
        device = self._devices.get(due.device_id)
        timeout = device.offline_timeout_s if device is not None else 0.0
        last = datetime.fromtimestamp(due.basis, UTC).isoformat().replace("+00:00", "Z")
        message = f"no message for {timeout + due.offset:g} s (last at {last}, {spec.label})"
        return Raise(spec, timeout + due.offset, message)

    async def _apply(self, conn: asyncpg.Connection, transitions: Sequence[Transition]) -> None:
        if transitions:
            async with store.transaction(conn) as tx:
                await self._write(tx, transitions)

    async def _write(self, tx: store.Changes, transitions: Sequence[Transition]) -> None:
        """Raise what is not open, clear what is; the open map follows as it goes."""
        for change in transitions:
            if isinstance(change, Raise):
                if change.spec.key not in self._open:
                    opened = await tx.open(change.spec, change.value, change.message)
                    if opened is not None:
                        self._open[opened.key] = opened
            elif (alert := self._open.pop(change.key, None)) is not None:
                await tx.clear(alert, change.detail)
