"""Who speaks for whom (docs/architecture.md, "Identity"): the messages of a batch refused
for the device they come through or name, and the tickers an auto-registered feed gains.

- A device's own topic (`devices/{id}/…`) is its activity. The device must be registered, or
  is registered now in auto-registration mode (TICKWIRE_AUTO_REGISTER) — never when its id is
  retired by a deletion (`device_deleted`); otherwise `unknown_device`.
- A price on `devices/{id}/stocks/{T}`: the device must monitor T (`device_tickers`), else
  `ticker_not_allowed`, except that an auto-registered device in auto-registration mode gains
  T (the open, demo mode). The broker's ACLs say the same for devices with accounts; this is
  for brokers without them.
- A `device_id` in a `stocks/{T}` message is a claim: it stays the tick's source only when that
  device exists and monitors T, else `source_not_allowed` (never relabelled: the source is part
  of the tick's key). It is nobody's activity and registers nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import asyncpg

from ingest.batch import Item
from tickwire.contract import Parsed

Refusal = tuple[str, str]
"""(reason, detail) of a dead letter."""

_DEVICES_SQL: Final = """
SELECT v.id, d.device_id IS NOT NULL AS registered, t.device_id IS NOT NULL AS retired
FROM unnest($1::text[]) AS v(id)
LEFT JOIN devices d ON d.device_id = v.id
LEFT JOIN device_tombstones t ON t.device_id = v.id"""
_SOURCES_SQL: Final = """
SELECT v.device_id, v.ticker, coalesce(d.auto_registered, false) AS auto_registered,
       dt.device_id IS NOT NULL AS monitored
FROM unnest($1::text[], $2::text[]) AS v(device_id, ticker)
LEFT JOIN devices d ON d.device_id = v.device_id
LEFT JOIN device_tickers dt ON dt.device_id = v.device_id AND dt.ticker = v.ticker"""


@dataclass(slots=True)
class Verdict:
    refused: dict[int, Refusal] = field(default_factory=dict)
    """Position in the batch → why that message is dead-lettered."""
    gained: set[tuple[str, str]] = field(default_factory=set)
    """(device, ticker) pairs auto-registered feeds start monitoring with this batch."""


@dataclass(slots=True)
class _Facts:
    """What the database says about the devices and sources of one batch."""

    retired: set[str]
    missing: set[str]
    """Neither registered nor retired."""
    monitored: set[tuple[str, str]]
    auto_registered: set[str]
    sources: int
    """How many (source, ticker) pairs the batch names."""

    def clean(self) -> bool:
        """Every speaker registered and no source named: nothing to refuse."""
        return not (self.retired or self.missing or self.sources)


class Identity:
    """The checks, with a cache of registered devices (cleared with the writer's)."""

    def __init__(self, auto_register: bool) -> None:
        self.auto_register = auto_register
        self.registered: set[str] = set()

    async def check(self, conn: asyncpg.Connection, items: Sequence[Item]) -> Verdict:
        parsed = [(i, item.parsed) for i, item in enumerate(items) if item.parsed is not None]
        facts = await self._facts(conn, [p for _, p in parsed])
        verdict = Verdict()
        if facts.clean():
            return verdict
        for index, message in parsed:
            refusal = self._judge(message, facts, verdict.gained)
            if refusal is not None:
                verdict.refused[index] = refusal
        return verdict

    def _judge(
        self, message: Parsed, facts: _Facts, gained: set[tuple[str, str]]
    ) -> Refusal | None:
        speaker = message.device_id
        if speaker in facts.retired:
            return "device_deleted", (
                f"device {speaker!r} was deleted: its id is retired (only its last owner or "
                "an admin may create it again)"
            )
        if speaker in facts.missing and not self.auto_register:
            return "unknown_device", (
                f"device {speaker!r} is not registered and auto-registration is off"
            )
        for _, ticker, _, _, source in message.prices:
            if not source or (source, ticker) in facts.monitored:
                continue
            if source != speaker:
                return "source_not_allowed", (
                    f"device_id {source!r} is not a device monitoring {ticker!r}"
                )
            if self.auto_register and (source in facts.missing or source in facts.auto_registered):
                gained.add((source, ticker))
                continue
            return "ticker_not_allowed", f"device {source!r} does not monitor {ticker!r}"
        return None

    async def _facts(self, conn: asyncpg.Connection, messages: Iterable[Parsed]) -> _Facts:
        speakers, sources = _subjects(messages)
        facts = _Facts(set(), set(), set(), set(), len(sources))
        fresh = speakers - self.registered
        if fresh:
            for row in await conn.fetch(_DEVICES_SQL, list(fresh)):
                if row["registered"]:
                    self.registered.add(row["id"])
                elif row["retired"]:
                    facts.retired.add(row["id"])
                else:
                    facts.missing.add(row["id"])
        if sources:
            await _source_facts(conn, sources, facts)
        return facts


def _subjects(messages: Iterable[Parsed]) -> tuple[set[str], set[tuple[str, str]]]:
    """The devices the messages come through, and the (source, ticker) pairs their ticks name."""
    speakers: set[str] = set()
    sources: set[tuple[str, str]] = set()
    for message in messages:
        if message.device_id:
            speakers.add(message.device_id)
        for row in message.prices:
            if row[4]:
                sources.add((row[4], row[1]))
    return speakers, sources


async def _source_facts(
    conn: asyncpg.Connection, sources: set[tuple[str, str]], facts: _Facts
) -> None:
    """Which of the (source, ticker) pairs are monitored, and which sources auto-registered."""
    # Not cached: a ticker taken from a device, or a device deleted, counts at once.
    pairs = sorted(sources)
    rows = await conn.fetch(_SOURCES_SQL, [p[0] for p in pairs], [p[1] for p in pairs])
    for row in rows:
        if row["monitored"]:
            facts.monitored.add((row["device_id"], row["ticker"]))
        if row["auto_registered"]:
            facts.auto_registered.add(row["device_id"])
