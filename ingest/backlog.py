"""How far behind the ingester is: the age of the oldest message it received and has not yet
committed (queued in the subscriber's inbox, or in a batch waiting for or in a transaction).

The alert engine reads it before declaring a device OFFLINE: a device's messages may be sitting
in that backlog (a database or broker outage just ended, a restart drains what the broker
kept), and the device's silence is then the ingester's, not the device's.
"""

from __future__ import annotations

import time
from typing import Protocol

from ingest.batch import Batch

CAUGHT_UP_S = 2.0
"""The ingester counts as caught up (devices may be declared OFFLINE) while nothing it received
has waited longer than this for its commit."""


class _Inbox(Protocol):
    @property
    def oldest_received(self) -> float | None:
        """Receive time (epoch s) of the oldest message queued, None when empty."""


class Backlog:
    def __init__(self, inbox: _Inbox) -> None:
        self._inbox = inbox
        self._batches: dict[int, float] = {}

    def queued(self, batch: Batch) -> None:
        """`batch` leaves the receiver for the writer."""
        if batch.items:
            self._batches[id(batch)] = batch.items[0].message.received

    def committed(self, batch: Batch) -> None:
        """`batch` is committed (or dead-lettered): its messages are no longer behind."""
        self._batches.pop(id(batch), None)

    def lag(self, now: float | None = None) -> float:
        """Seconds since the oldest uncommitted message was received (0: nothing waits)."""
        oldest = list(self._batches.values())
        inbox = self._inbox.oldest_received
        if inbox is not None:
            oldest.append(inbox)
        if not oldest:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - min(oldest))
