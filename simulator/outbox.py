"""Where devices' messages leave: the deliberate loss, the message budget and the counters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from simulator.fleet import Outgoing
from simulator.stats import Stats

log = logging.getLogger("simulator.outbox")


def drops(seq: int, every: int) -> bool:
    """Whether data message `seq` is withheld: every `every`-th one is (0: none is)."""
    return every > 0 and seq % every == 0


class Publisher(Protocol):
    def publish(self, messages: Sequence[Outgoing]) -> list[bool]:
        """Take messages of one device; whether each was accepted."""


class Outbox:
    """Hands what devices emit to their publisher and counts it.

    A data message whose `seq` `drops()` is withheld (counted as dropped, its seq consumed).
    Once `max_messages` data messages are published (0: no limit) no more are, and
    `exhausted` is set.
    """

    def __init__(
        self, stats: Stats, drop_every: int, max_messages: int, exhausted: asyncio.Event
    ) -> None:
        self.stats = stats
        self.drop_every = drop_every
        self.max_messages = max_messages
        self.exhausted = exhausted

    def send(self, publisher: Publisher, messages: Sequence[Outgoing]) -> None:
        chosen = []
        budget = self.max_messages - self.stats.data_published if self.max_messages else -1
        for message in messages:
            if message.seq is not None:
                if budget == 0:
                    self.exhausted.set()
                    break
                if drops(message.seq, self.drop_every):
                    self.stats.dropped[message.kind] += 1
                    log.debug("withheld %s seq %d on %s", message.kind, message.seq, message.topic)
                    continue
                budget -= 1
            chosen.append(message)
        if not chosen:
            return
        accepted = publisher.publish(chosen)
        for message, ok in zip(chosen, accepted, strict=True):
            counter = self.stats.published if ok else self.stats.failed
            counter[message.kind] += 1
        if budget == 0:
            self.exhausted.set()
