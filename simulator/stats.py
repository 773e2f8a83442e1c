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

    `published` counts data messages produced and kept in the buffer (they leave live or
    later, in a batch) and heartbeats/acks handed to a connection; `failed` are heartbeats
    and acks not sent because the device was disconnected. `replayed` readings left the
    buffer after waiting (in `batches` batch messages, or one tick per message); `rejected`
    ones were refused by the broker (not authorized) and `evicted` ones dropped from a full
    buffer. `unconfirmed` is set at shutdown: readings still in the buffer, for the next run.
    """

    published: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    commands: int = 0
    batches: int = 0
    replayed: int = 0
    rejected: int = 0
    evicted: int = 0
    unconfirmed: int = 0

    @property
    def data_published(self) -> int:
        return sum(self.published[kind] for kind in DATA_KINDS)

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {self.published[kind]}" for kind in KINDS)
        return (
            f"published {self.published.total()} ({kinds}), "
            f"dropped {self.dropped.total()}, failed {self.failed.total()}, "
            f"commands {self.commands}, replayed {self.replayed} in {self.batches} batches, "
            f"rejected {self.rejected}, evicted {self.evicted}, unconfirmed {self.unconfirmed}"
        )
