"""A batch: the messages received since the last flush, parsed into rows and dead letters.

`Batch.add` is where a message meets the contract, and it contains every failure: a refusal
(`Rejected`) or any other exception becomes a dead letter of that message alone, so no message
can stop the ingester or be redelivered to it forever.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Protocol

from ingest.subscriber import Received
from tickwire.contract import Limits, Parsed, Rejected, parse

log = logging.getLogger("ingest.batch")

DeadLetter = tuple[datetime, str, bytes, int, str, str]
"""(received_at, topic, payload, payload_size, reason, detail)."""

OVERSIZED_KEPT_BYTES: Final = 4096
"""What a dead letter keeps of a payload over the size limit: its first bytes."""


class Parser(Protocol):
    def __call__(
        self, topic: str, payload: bytes, received_at: datetime, limits: Limits, /
    ) -> Parsed: ...


@dataclass(frozen=True, slots=True)
class Replay:
    """A dead letter an admin asked to replay (`ingest/replay.py`)."""

    dead_letter_id: int
    requested_at: datetime
    received_at: datetime


@dataclass(slots=True)
class Item:
    message: Received
    received_at: datetime
    parsed: Parsed | None
    rejected: Rejected | None
    payload_size: int | None = None
    """Size of the payload as received when `message.payload` keeps only a prefix of it."""
    replay: Replay | None = None


@dataclass(slots=True)
class Batch:
    items: list[Item] = field(default_factory=list)
    rows: int = 0
    started: float = 0.0
    retained: int = 0
    """Messages ignored for their retain flag (sent for a subscription, not published now)."""
    parser: Parser = parse

    def add(self, message: Received, limits: Limits, replay: Replay | None = None) -> None:
        if not self.items:
            self.started = time.monotonic()
        received_at = _received_at(message.received) if replay is None else replay.received_at
        if message.retain:
            # A retained message the broker sent because of a (re)subscription: it was ingested
            # when it was published, if this ingester's session existed then (docs/ingest.md).
            self.retained += 1
            self.items.append(Item(message, received_at, None, None))
            return
        try:
            parsed = self.parser(message.topic, message.payload, received_at, limits)
        except Rejected as exc:
            self.items.append(_refused(message, received_at, exc, limits, replay))
            return
        except Exception as exc:
            log.exception("could not process a message on %r: dead-lettered", message.topic[:200])
            internal = Rejected("internal", _describe(exc))
            self.items.append(_refused(message, received_at, internal, limits, replay))
            return
        self.rows += len(parsed.prices) + len(parsed.telemetry)
        self.items.append(Item(message, received_at, parsed, None, replay=replay))

    @property
    def messages(self) -> int:
        return len(self.items)

    def age(self) -> float:
        return time.monotonic() - self.started if self.items else 0.0


def _refused(
    message: Received,
    received_at: datetime,
    rejected: Rejected,
    limits: Limits,
    replay: Replay | None,
) -> Item:
    size = len(message.payload)
    if size <= limits.max_payload_bytes:
        return Item(message, received_at, None, rejected, replay=replay)
    # Keep a prefix only, and let go of the rest now rather than after the batch's commit.
    prefix = dataclasses.replace(message, payload=message.payload[:OVERSIZED_KEPT_BYTES])
    return Item(prefix, received_at, None, rejected, size, replay)


def _describe(exc: Exception) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}"
    except Exception:  # an exception whose str() fails too
        text = type(exc).__name__
    return text[:500]


@functools.lru_cache(maxsize=16)
def _received_at(epoch: float) -> datetime:
    """Messages read in one burst share their receive time: convert it once."""
    return datetime.fromtimestamp(epoch, UTC)


def dead_letter(item: Item, reason: str, detail: str) -> DeadLetter:
    """The dead-letter row of `item`'s message (the one place such a row is made)."""
    message = item.message
    size = len(message.payload) if item.payload_size is None else item.payload_size
    topic = message.topic.replace("\x00", "\ufffd")  # text columns cannot hold NUL
    return (item.received_at, topic, message.payload, size, reason, detail)


def dead_letters(item: Item) -> list[DeadLetter]:
    """The dead-letter rows of one item: the whole message, or the parts it refused."""
    refused = [item.rejected] if item.rejected else item.parsed.rejected if item.parsed else []
    if not refused:
        return []
    detail = "; ".join(r.detail for r in refused[:20])
    if len(refused) > 20:
        detail += f"; and {len(refused) - 20} more"
    return [dead_letter(item, refused[0].reason, detail)]
