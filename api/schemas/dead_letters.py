"""Responses of /api/admin/dead-letters: a dead letter as stored, and what a replay did."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

PREVIEW_BYTES = 4096
"""How much of a stored payload a response shows."""


class DeadLetterRead(BaseModel):
    """A message the ingester could not accept, with the outcome of its last replay."""

    id: int
    received_at: datetime
    topic: str
    reason: str = Field(description="stable code, see docs/ingest.md")
    detail: str
    payload: str = Field(
        description=f"the stored payload as UTF-8 text (invalid bytes as U+FFFD), at most "
        f"its first {PREVIEW_BYTES} bytes"
    )
    payload_size: int = Field(description="bytes as received")
    stored_bytes: int = Field(description="bytes stored")
    truncated: bool = Field(
        description="only a prefix was stored (an oversized payload): it cannot be replayed"
    )
    replay_requested_at: datetime | None = Field(description="a replay waits for the ingester")
    replayed_at: datetime | None
    replay_outcome: Literal["ingested", "rejected"] | None = Field(
        description="`ingested`: its rows were written (or were there already); `rejected`: "
        "still refused, `reason` and `detail` say why now"
    )
    replay_rows: int | None = Field(description="rows the last replay inserted")
    replay_duplicates: int | None = Field(description="rows it found already stored")
    replay_detail: str | None = Field(description="parts the replay still refused")


class ReplayResult(BaseModel):
    outcome: Literal["ingested", "rejected", "pending"] = Field(
        description="`pending`: the ingester has not replayed it yet (it will when it runs)"
    )
    dead_letter: DeadLetterRead
