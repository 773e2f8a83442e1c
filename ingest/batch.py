"""A batch: the messages received since the last flush, parsed into rows and dead letters."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest.subscriber import Received
from tickwire.contract import Limits, Parsed, Rejected, parse

DeadLetter = tuple[datetime, str, bytes, str, str]
"""(received_at, topic, payload, reason, detail)."""


@dataclass(slots=True)
class Item:
    message: Received
    received_at: datetime
    parsed: Parsed | None
    rejected: Rejected | None


@dataclass(slots=True)
class Batch:
    items: list[Item] = field(default_factory=list)
    rows: int = 0
    started: float = 0.0

    def add(self, message: Received, limits: Limits) -> None:
        if not self.items:
            self.started = time.monotonic()
        received_at = _received_at(message.received)
        try:
            parsed = parse(message.topic, message.payload, received_at, limits)
        except Rejected as exc:
            self.items.append(Item(message, received_at, None, exc))
            return
        self.rows += len(parsed.prices) + len(parsed.telemetry)
        self.items.append(Item(message, received_at, parsed, None))

    @property
    def messages(self) -> int:
        return len(self.items)

    def age(self) -> float:
        return time.monotonic() - self.started if self.items else 0.0


@functools.lru_cache(maxsize=16)
def _received_at(epoch: float) -> datetime:
    """Messages read in one burst share their receive time: convert it once."""
    return datetime.fromtimestamp(epoch, UTC)


def dead_letters(item: Item) -> list[DeadLetter]:
    """The dead-letter rows of one item: the whole message, or the parts it refused."""
    message = item.message
    refused = [item.rejected] if item.rejected else item.parsed.rejected if item.parsed else []
    if not refused:
        return []
    reason = refused[0].reason
    detail = "; ".join(r.detail for r in refused[:20])
    if len(refused) > 20:
        detail += f"; and {len(refused) - 20} more"
    return [(item.received_at, message.topic, message.payload, reason, detail)]
