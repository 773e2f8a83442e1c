"""A batch flattened into what goes to each table (`flatten`), for the writer's transaction."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Final, TypeVar

from ingest.batch import DeadLetter, Item, Replay, dead_letter, dead_letters
from ingest.identity import Verdict
from tickwire.contract import PriceRow, TelemetryRow

_Row = TypeVar("_Row")

#: The natural keys (unique indexes `prices_key`, `telemetry_key`).
PRICE_KEY: Final[Callable[[PriceRow], Hashable]] = itemgetter(1, 0, 4)
TELEMETRY_KEY: Final[Callable[[TelemetryRow], Hashable]] = itemgetter(1, 2, 0)


@dataclass(slots=True)
class Rows:
    """A batch flattened into what goes to each table."""

    prices: list[PriceRow] = field(default_factory=list)
    telemetry: list[TelemetryRow] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    seen: dict[str, datetime] = field(default_factory=dict)
    devices: set[str] = field(default_factory=set)
    """Devices to register that were not heard from (backfill); `seen` ones are added."""
    gained: set[tuple[str, str]] = field(default_factory=set)
    """(device, ticker) pairs auto-registered feeds start monitoring."""
    acks: list[Item] = field(default_factory=list)
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    """Newest receive time of the batch's messages."""
    replay: Replay | None = None
    """The dead letter this batch replays (then its only message)."""

    def add(self, item: Item) -> None:
        """An accepted item: its rows, and its refused parts as dead letters."""
        self.dead += dead_letters(item)
        parsed = item.parsed
        if parsed is None:
            return
        self.prices += parsed.prices
        self.telemetry += parsed.telemetry
        if parsed.device_id is not None and item.replay is not None:
            self.devices.add(parsed.device_id)  # registered, but a replay is no sign of life
        elif parsed.device_id is not None:
            seen = self.seen.get(parsed.device_id)
            if seen is None or seen < item.received_at:
                self.seen[parsed.device_id] = item.received_at
        if parsed.ack is not None:
            self.acks.append(item)


def flatten(items: Iterable[Item], verdict: Verdict) -> Rows:
    """Accepted rows of every item; refused items and parts become dead letters."""
    rows = Rows(gained=verdict.gained)
    newest = None
    for index, item in enumerate(items):
        if newest is None or newest < item.received_at:
            newest = item.received_at
        if item.replay is not None:
            rows.replay = item.replay
        refusal = verdict.refused.get(index)
        if refusal is not None:
            rows.dead.append(dead_letter(item, *refusal))
        else:
            rows.add(item)
    if newest is not None:
        rows.received_at = newest
    if rows.replay is not None:
        # For the alert engine: received now, so readings of old are late data, as they are.
        rows.received_at = datetime.now(UTC)
    return rows


def first_of_each(rows: Sequence[_Row], key: Callable[[_Row], Hashable]) -> Sequence[_Row]:
    """`rows` without those whose natural key came earlier in the batch: the first received
    wins, as across batches the first stored does (a redelivery repeats the same reading).
    Returns `rows` itself when no key comes twice."""
    if len(set(map(key, rows))) == len(rows):
        return rows
    seen: set[Hashable] = set()
    first = []
    for row in rows:
        k = key(row)
        if k not in seen:
            seen.add(k)
            first.append(row)
    return first
