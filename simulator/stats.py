"""What the simulator has sent, withheld and failed to send, by kind of message."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final, Literal

Kind = Literal["telemetry", "price", "heartbeat", "ack"]

#: Kinds that carry a `seq`: the data messages, subject to the deliberate loss and the budget.
DATA_KINDS: Final[tuple[Kind, ...]] = ("telemetry", "price")
KINDS: Final[tuple[Kind, ...]] = ("telemetry", "price", "heartbeat", "ack")


@dataclass
class Stats:
    """Counters kept on the asyncio thread.

    `published` counts messages handed to the MQTT client (QoS 1: queued until acknowledged,
    also across a reconnect); `unconfirmed` is set at shutdown to those the broker never
    acknowledged. `failed` are QoS 0 messages refused while disconnected.
    """

    published: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    commands: int = 0
    unconfirmed: int = 0

    @property
    def data_published(self) -> int:
        return sum(self.published[kind] for kind in DATA_KINDS)

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {self.published[kind]}" for kind in KINDS)
        return (
            f"published {self.published.total()} ({kinds}), "
            f"dropped {self.dropped.total()}, failed {self.failed.total()}, "
            f"commands {self.commands}, unconfirmed {self.unconfirmed}"
        )
