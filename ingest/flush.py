"""When a batch is written: a pure policy, unit-tested on its own."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FlushPolicy:
    """Flush when the batch is full, or old, or the writer is idle and the batch has lingered.

    Writing as soon as the writer is free keeps latency low at low rates; while it is busy the
    batch keeps growing, so throughput rises with load (group commit).
    """

    max_rows: int = 20_000
    max_messages: int = 5_000
    max_age_s: float = 0.2
    linger_s: float = 0.025

    def should_flush(self, rows: int, messages: int, age_s: float, writer_idle: bool) -> bool:
        if messages == 0:
            return False
        if rows >= self.max_rows or messages >= self.max_messages or age_s >= self.max_age_s:
            return True
        return writer_idle and age_s >= self.linger_s

    def wait_s(self, messages: int, age_s: float, writer_idle: bool) -> float | None:
        """How long to wait for more messages before asking again; None: until one comes."""
        if messages == 0:
            return None
        deadline = self.linger_s if writer_idle else self.max_age_s
        return max(0.0, deadline - age_s)
