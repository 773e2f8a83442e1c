"""Where devices' messages leave: the deliberate loss, the message budget and the counters."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from simulator.fleet import Outgoing
from simulator.stats import Stats

log = logging.getLogger("simulator.outbox")


def drops(seq: int, every: int) -> bool:
    """Whether data message `seq` is withheld: every `every`-th one is (0: none is)."""
    return every > 0 and seq % every == 0


class Publisher(Protocol):
    def publish(self, topic: str, payload: dict[str, Any]) -> bool:
        """Hand a message to the client; False when it was refused."""


class Outbox:
    """Publishes what devices emit and counts it.

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

    def send(self, publisher: Publisher, message: Outgoing) -> None:
        if message.seq is not None:
            if self.max_messages and self.stats.data_published >= self.max_messages:
                self.exhausted.set()
                return
            if drops(message.seq, self.drop_every):
                self.stats.dropped[message.kind] += 1
                log.debug("withheld %s seq %d on %s", message.kind, message.seq, message.topic)
                return
        if publisher.publish(message.topic, message.payload):
            self.stats.published[message.kind] += 1
        else:
            self.stats.failed[message.kind] += 1
        if self.max_messages and self.stats.data_published >= self.max_messages:
            self.exhausted.set()
