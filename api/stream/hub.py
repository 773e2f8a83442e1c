"""The hub: one per API process. It tails the journal and fans each event out to the
subscribers that should receive it, without ever waiting on a client.

A dedicated connection LISTENs on `tickwire_stream`; on a notification, and every
`stream_poll_s` as a safety net, it reads the events after its position in pages, then the
owners of their subjects (so an event committed after a change of ownership is judged by the
new owner). Each event's frame is encoded once and appended to the buffer of every matching
subscriber. Journal ids are gap-free and in commit order, so the
hub's position means "every event up to here has been handed out"; a subscriber registered at
position P receives the live events after P and reads the ones before from the journal.
`portfolio` events are no journal events: `portfolios.Portfolios` computes them from the price
events handed out here and the portfolio routes' NOTIFYs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from prometheus_client import Counter, Gauge

from api.metrics import API_REGISTRY
from api.settings import ApiSettings
from api.stream import frames, store
from api.stream.portfolios import Portfolios
from api.stream.routing import Routes, event_key, owner_of
from api.stream.store import Owners
from api.stream.subscriber import Key, Subscriber
from tickwire.journal import PORTFOLIO_CHANNEL, STREAM_CHANNEL

log = logging.getLogger("api.stream")

CLIENTS = Gauge("tickwire_stream_clients", "open live streams", registry=API_REGISTRY)
DROPPED = Counter(
    "tickwire_stream_dropped",
    "live streams ended by the server, by reason (slow, stalled, lagging, shutdown)",
    ["reason"],
    registry=API_REGISTRY,
)
EVENTS = Counter("tickwire_stream_events", "journal events fanned out", registry=API_REGISTRY)


class Hub:
    """Fan-out of the journal to subscribers; `running()` starts and stops its task."""

    def __init__(self, settings: ApiSettings) -> None:
        self.url = ""
        self.settings = settings
        self.closed = False
        self.routes = Routes()
        self.portfolios = Portfolios(self.drop)
        self.position = 0
        self._subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()

    @contextlib.asynccontextmanager
    async def running(self, url: str, pool: asyncpg.Pool) -> AsyncIterator[Hub]:
        """Tail the journal from `url` (a connection of its own); `pool` computes the
        `portfolio` events."""
        self.url, self.closed = url, False
        conn = await self._connect(first=True)
        tasks = [
            asyncio.create_task(self._run(conn), name="stream-hub"),
            asyncio.create_task(self.portfolios.run(pool), name="stream-portfolios"),
        ]
        try:
            yield self
        finally:
            self.close()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def subscribe(self, sub: Subscriber) -> int:
        """Register `sub` for the events after the current position, which it returns.
        Synchronous: no event can be handed out between reading the position and this."""
        sub.after = self.position
        self.routes.add(sub)
        self.portfolios.add(sub)
        self._subscribers.add(sub)
        CLIENTS.inc()
        if self.closed:
            self.drop(sub, "shutdown")
        return self.position

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub in self._subscribers:
            self._subscribers.discard(sub)
            self.routes.remove(sub)
            self.portfolios.remove(sub)
            CLIENTS.dec()

    def drop(self, sub: Subscriber, reason: str) -> None:
        """End `sub`'s stream (it will resume with Last-Event-ID); frees its buffer now."""
        sub.drop(reason)
        if sub in self._subscribers:
            DROPPED.labels(sub.dropped).inc()
            log.info("dropped a live stream of user %s: %s", sub.user_id, sub.dropped)
            self.unsubscribe(sub)

    def close_all(self, reason: str) -> None:
        for sub in list(self._subscribers):
            self.drop(sub, reason)

    def close(self) -> None:
        """Drop every stream, and every new one at once: the server is stopping."""
        self.closed = True
        self.close_all("shutdown")

    async def _connect(self, first: bool = False) -> asyncpg.Connection:
        conn = await asyncpg.connect(self.url)
        try:
            await conn.add_listener(STREAM_CHANNEL, self._notified)
            await conn.add_listener(PORTFOLIO_CHANNEL, self.portfolios.notified)
            conn.add_termination_listener(self._notified)
            if first:
                self.position = await conn.fetchval("SELECT last_id FROM stream_state")
            else:
                self.portfolios.changed()  # a change may have been notified while away
        except BaseException:
            await conn.close()
            raise
        return conn

    def _notified(self, *_args: Any) -> None:
        self._wake.set()

    async def _run(self, conn: asyncpg.Connection) -> None:
        """Tail the journal; on any failure reconnect (with back-off) and go on from the
        position, so nothing is skipped."""
        delay = 0.5
        while True:
            try:
                await self._tail(conn)
            except Exception:
                log.exception("the live stream's journal reader failed; reconnecting")
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 5)
            while True:
                await asyncio.sleep(delay)
                try:
                    conn = await self._connect()
                    delay = 0.5
                    break
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    delay = min(delay * 2, 10.0)
                    log.warning("cannot reconnect the journal reader (%s); retrying", exc)

    async def _tail(self, conn: asyncpg.Connection) -> None:
        checked = time.monotonic()
        while not conn.is_closed():
            self._wake.clear()
            await self._catch_up(conn)
            if time.monotonic() - checked >= self.settings.stream_session_check_s:
                checked = time.monotonic()
                await self._end_sessions(conn)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.stream_poll_s):
                    await self._wake.wait()
        raise ConnectionError("the journal reader's connection closed")

    async def _end_sessions(self, conn: asyncpg.Connection) -> None:
        """Drop the streams whose login ended meanwhile, on whichever replica it ended."""
        open_on = {sub: sub.login for sub in self._subscribers if sub.login is not None}
        if not open_on:
            return
        ended = await store.sessions_ended(
            conn, [(s.user_id, *login) for s, login in open_on.items()]
        )
        for sub, (jti, _issued) in open_on.items():
            if jti in ended:
                self.drop(sub, "logged_out")

    async def _catch_up(self, conn: asyncpg.Connection) -> None:
        while True:
            rows = await store.after(conn, self.position)
            if not rows:
                return
            if rows[0]["id"] != self.position + 1:
                self._lost(rows[0]["id"])
            keys = [event_key(row["kind"], row["subject"], row["data"]) for row in rows]
            owners = await store.owners(conn, set(keys))
            self._fan_out(rows, keys, owners)
            if len(rows) < store.PAGE:
                return

    def _fan_out(self, rows: list[Any], keys: list[Key], owners: Owners) -> None:
        """Hand each event to its subscribers; no await: a batch is atomic to `subscribe`."""
        overflowed: list[Subscriber] = []
        for row, key in zip(rows, keys, strict=True):
            event_id = row["id"]
            frame = frames.event(event_id, row["kind"], row["data"])
            kind = row["kind"]
            if kind == "price":
                self.portfolios.moved(row["subject"])
            for sub in self.routes.targets(key, owner_of(owners, key), row["audience"]):
                if sub.kinds is not None and kind not in sub.kinds:
                    continue
                if not sub.push(event_id, frame):
                    overflowed.append(sub)
        self.position = rows[-1]["id"]
        EVENTS.inc(len(rows))
        for sub in overflowed:
            self.drop(sub, "slow")

    def _lost(self, first: int) -> None:
        """The journal was pruned past the position (the hub fell that far behind): every
        client may have missed events; they reconnect and get a `reset`."""
        log.warning(
            "journal events %d..%d were pruned before the hub read them",
            self.position + 1,
            first - 1,
        )
        self.close_all("lagging")
