"""Live `portfolio` events: a portfolio's totals, computed by the holdings route's own code
(`api.market.holdings`) when a ticker it holds moves (a `price` event the hub fans out) or its
transactions change (NOTIFY `tickwire_portfolios` from the routes, so every API replica
hears it), at most one per portfolio per `interval_s` for each stream.

They are no journal events: not replayed on resume and sent without an `id` (the client's
resume point stays its last journal event). Instead every stream, new or resumed, first
gets the current numbers of each portfolio it asked for: a client is never left stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg

from api.market import holdings
from api.stream import frames
from api.stream.subscriber import UNJOURNALED, Subscriber
from tickwire.events import portfolio_data

log = logging.getLogger("api.stream")

INTERVAL_S: Final = 1.0


@dataclass(eq=False, slots=True)
class _Watcher:
    """One stream's view of one portfolio: whether it is owed an event, and when it had one."""

    sub: Subscriber
    pending: bool = True
    sent_at: float = -math.inf


@dataclass(eq=False, slots=True)
class _Watch:
    """One portfolio watched by one or more streams, and the tickers it holds."""

    portfolio_id: int
    watchers: dict[Subscriber, _Watcher] = field(default_factory=dict)
    tickers: frozenset[str] = frozenset()
    moved: set[str] = field(default_factory=set)
    """Tickers that moved while it was being computed (its holdings may have just changed)."""


class Portfolios:
    """The watched portfolios of one hub; `run()` computes and sends what is owed."""

    def __init__(self, drop: Callable[[Subscriber, str], None], interval_s: float = INTERVAL_S):
        self._drop = drop
        self._interval = interval_s
        self._watches: dict[int, _Watch] = {}
        self._by_ticker: dict[str, set[_Watch]] = {}
        self._computing: set[_Watch] = set()
        self._wake = asyncio.Event()

    def add(self, sub: Subscriber) -> None:
        if sub.kinds is not None and "portfolio" not in sub.kinds:
            return
        for portfolio_id in sub.portfolios:
            watch = self._watches.setdefault(portfolio_id, _Watch(portfolio_id))
            watch.watchers[sub] = _Watcher(sub)
        if sub.portfolios:
            self._wake.set()

    def remove(self, sub: Subscriber) -> None:
        for portfolio_id in sub.portfolios:
            watch = self._watches.get(portfolio_id)
            if watch is not None:
                watch.watchers.pop(sub, None)
                if not watch.watchers:
                    self._forget(watch)

    def moved(self, ticker: str) -> None:
        """A `price` event of `ticker` was handed out."""
        for watch in self._by_ticker.get(ticker, ()):
            self._owe(watch)
        for watch in self._computing:
            watch.moved.add(ticker)

    def changed(self, portfolio_id: int | None = None) -> None:
        """A portfolio's transactions changed (None: maybe any, a NOTIFY may be lost)."""
        for watch in self._watches.values() if portfolio_id is None else ():
            self._owe(watch)
        found = None if portfolio_id is None else self._watches.get(portfolio_id)
        if found is not None:
            self._owe(found)

    def notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        """The NOTIFY listener: a malformed payload is ignored (nobody else sends on it)."""
        if payload.isascii() and payload.isdigit():
            self.changed(int(payload))

    async def run(self, pool: asyncpg.Pool) -> None:
        """Send what is owed, each stream at most once per interval per portfolio."""
        while True:
            self._wake.clear()
            now = time.monotonic()
            wait = math.inf
            for watch in list(self._watches.values()):
                owed = [w for w in watch.watchers.values() if w.pending]
                due = [w for w in owed if now - w.sent_at >= self._interval]
                later = [w.sent_at + self._interval - now for w in owed if w not in due]
                wait = min([wait, *later])
                if due:
                    await self._send(pool, watch, due)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if wait == math.inf else max(wait, 0.0)):
                    await self._wake.wait()

    async def _send(self, pool: asyncpg.Pool, watch: _Watch, due: list[_Watcher]) -> None:
        sent_at, stamp = time.monotonic(), datetime.now(UTC)
        for watcher in due:
            watcher.pending, watcher.sent_at = False, sent_at
        watch.moved = set()
        self._computing.add(watch)
        try:
            async with pool.acquire() as conn:
                held = await _holdings(conn, watch.portfolio_id)
        except Exception:
            log.exception("cannot compute portfolio %d for the live stream", watch.portfolio_id)
            for watcher in due:
                watcher.pending = True
            return
        finally:
            self._computing.discard(watch)
        if held is None:  # deleted meanwhile: nothing more to say about it, no moves to follow
            self._index(watch, set())
            return
        self._index(watch, {i["ticker"] for i in held["items"] if i["quantity"] > 0})
        if watch.moved & watch.tickers:
            self._owe(watch)
        data = portfolio_data(watch.portfolio_id, stamp, held["totals"])
        frame = frames.unjournaled("portfolio", data)
        for watcher in due:
            if watch.watchers.get(watcher.sub) is watcher and not watcher.sub.push(
                UNJOURNALED, frame
            ):
                self._drop(watcher.sub, "slow")

    def _owe(self, watch: _Watch) -> None:
        for watcher in watch.watchers.values():
            watcher.pending = True
        self._wake.set()

    def _index(self, watch: _Watch, tickers: set[str]) -> None:
        if self._watches.get(watch.portfolio_id) is not watch:
            return  # every stream of it left while it was computed
        for ticker in watch.tickers - tickers:
            self._unindex(watch, ticker)
        for ticker in tickers - watch.tickers:
            self._by_ticker.setdefault(ticker, set()).add(watch)
        watch.tickers = frozenset(tickers)

    def _forget(self, watch: _Watch) -> None:
        del self._watches[watch.portfolio_id]
        for ticker in watch.tickers:
            self._unindex(watch, ticker)

    def _unindex(self, watch: _Watch, ticker: str) -> None:
        watches = self._by_ticker.get(ticker)
        if watches is not None:
            watches.discard(watch)
            if not watches:
                del self._by_ticker[ticker]


async def _holdings(conn: asyncpg.Connection, portfolio_id: int) -> dict[str, Any] | None:
    """What `GET /api/portfolios/{id}/holdings` answers now; None once it is deleted."""
    if not await conn.fetchval("SELECT true FROM portfolios WHERE id = $1", portfolio_id):
        return None
    return await holdings.holdings(conn, portfolio_id)
