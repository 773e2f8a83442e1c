"""The ingester's counters, persisted with every batch (ingest_status) for /metrics and /health."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class Stats:
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    received: int = 0
    committed_rows: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    batch_seconds: float = 0.0
    retained_ignored: int = 0
    """Retained messages the broker sent for a subscription: acknowledged, not ingested."""

    def committed(
        self, rows: int, duplicates: int, dead: int, seconds: float, retained: int = 0
    ) -> None:
        self.batch_seconds += seconds
        self.retained_ignored += retained
        self.committed_rows += rows
        self.duplicates += duplicates
        self.dead_lettered += dead
        self.batches += 1
