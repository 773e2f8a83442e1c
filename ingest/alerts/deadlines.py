"""OFFLINE deadlines: every device's silence (`liveness`), and whether it counts now. While
any ingester is deaf or behind, no device is declared OFFLINE (the silence is the ingesters',
not the devices'); afterwards each device gets its timeout again to be heard from (the broker
redelivers what it kept, devices flush what they buffered)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Final

import asyncpg

from ingest.alerts.hearing import Hearing
from ingest.alerts.liveness import Due, Liveness

BACKLOG_POLL_S: Final = 0.25
"""How often a deaf engine looks whether the ingesters caught up."""


class Deadlines:
    def __init__(
        self,
        attentive: Sequence[asyncio.Event],
        caught_up: Callable[[], bool] | None,
        hearing: Hearing,
    ) -> None:
        """`attentive`: events all set while this process's ingester hears the broker and the
        database takes its batches; `caught_up`: whether it has no backlog to work through;
        `hearing`: the same of every ingester, from their heartbeats."""
        self._attentive = tuple(attentive)
        self._caught_up = caught_up
        self._hearing = hearing
        self.reset()

    def reset(self) -> None:
        """Forget every device; count as having been deaf (an engine taking the lead)."""
        self.liveness = Liveness()
        self._deaf = True
        self._heard, self._heard_at = False, float("-inf")

    def waits(self) -> tuple[list[asyncio.Event], float | None]:
        """What to wait on besides the feed: this process's ingester's unset signals (no
        deadline counts until it is attentive again), else seconds to the next deadline (a
        backlog poll while deaf: a backlog shrinks unannounced); None: no limit."""
        unset = [event for event in self._attentive if not event.is_set()]
        if unset:
            return unset, None
        due = self.liveness.next_due()
        if due is None:
            return [], None
        return [], BACKLOG_POLL_S if self._deaf else max(0.0, due - time.time())

    async def due(self, conn: asyncpg.Connection) -> list[Due]:
        """The deadlines that came due; none while an ingester is deaf or behind."""
        first = self.liveness.next_due()
        if first is None:
            return []
        if not await self._listening(conn, fresh=first <= time.time()):
            self._deaf = True
            return []
        if self._deaf:
            self._deaf = False
            self.liveness.grace(time.time())
        return self.liveness.due(time.time())

    async def recheck(self, conn: asyncpg.Connection, due: Due) -> None:
        """The device was not marked OFFLINE: follow what the database says instead."""
        row = await conn.fetchrow(
            "SELECT status, last_seen FROM devices WHERE device_id = $1", due.device_id
        )
        if row is None or row["last_seen"] is None:
            self.liveness.forget(due.device_id)
        elif row["last_seen"].timestamp() > due.basis:
            self.liveness.seen(due.device_id, row["last_seen"].timestamp())
        else:
            self.liveness.went_offline(due.device_id)  # marked by someone else

    async def _listening(self, conn: asyncpg.Connection, fresh: bool) -> bool:
        """This process's ingester's signals, then the heartbeats (read again at most every
        `BACKLOG_POLL_S`, unless `fresh`)."""
        heard = all(event.is_set() for event in self._attentive)
        if not (heard and (self._caught_up is None or self._caught_up())):
            return False
        now = time.monotonic()
        if fresh or now - self._heard_at >= BACKLOG_POLL_S:
            self._heard = await self._hearing.listening(conn)
            self._heard_at = now
        return self._heard
