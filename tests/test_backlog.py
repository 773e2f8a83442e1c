"""The ingester's backlog: the age of the oldest message received and not yet committed."""

from __future__ import annotations

from datetime import UTC, datetime

from ingest.backlog import Backlog
from ingest.batch import Batch, Item
from ingest.subscriber import Received


class Inbox:
    def __init__(self) -> None:
        self.oldest_received: float | None = None


def _batch(*received: float) -> Batch:
    items = [
        Item(Received("t", b"{}", 1, n, 0, at), datetime.fromtimestamp(at, UTC), None, None)
        for n, at in enumerate(received)
    ]
    return Batch(items=items)


def test_the_oldest_waiting_message_anywhere_sets_the_lag() -> None:
    inbox = Inbox()
    backlog = Backlog(inbox)
    assert backlog.lag(now=100.0) == 0.0
    inbox.oldest_received = 98.0
    assert backlog.lag(now=100.0) == 2.0
    first, second = _batch(90.0, 95.0), _batch(96.0)
    backlog.queued(first)
    backlog.queued(second)
    assert backlog.lag(now=100.0) == 10.0  # the first batch's first message
    backlog.committed(first)
    assert backlog.lag(now=100.0) == 4.0
    backlog.committed(second)
    inbox.oldest_received = None
    assert backlog.lag(now=100.0) == 0.0
