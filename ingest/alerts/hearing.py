"""Whether the ingesters hear everything, from their heartbeats in `ingest_status` (written
every second by each ingester, `ingest/heartbeat.py`): the engine declares no device OFFLINE
while any of them is deaf, behind, or silent (killed: its session may hold messages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import asyncpg

_SQL: Final = """
SELECT count(*) FILTER (WHERE fresh AND attentive) AS good,
       count(*) FILTER (WHERE NOT (fresh AND attentive)) AS bad
FROM (SELECT heartbeat_at >= now() - make_interval(secs => $1) AS fresh, attentive
      FROM ingest_status
      WHERE heartbeat_at >= now() - make_interval(secs => $2) AND NOT stopped
        AND instance IS DISTINCT FROM $3) s"""


@dataclass(frozen=True, slots=True)
class Hearing:
    stale_s: float
    """A heartbeat older than this: that ingester is not listening."""
    gone_s: float
    """A heartbeat older than this: that ingester is gone (no longer counted)."""
    need_one: bool
    """At least one ingester must be listening (an engine outside any ingester)."""
    own: str | None = None
    """The instance of the ingester this engine runs in: its own signals count, not its
    heartbeat (a second late)."""

    async def listening(self, conn: asyncpg.Connection) -> bool:
        row = await conn.fetchrow(_SQL, self.stale_s, self.gone_s, self.own)
        assert row is not None
        return bool(row["bad"] == 0 and (row["good"] > 0 or not self.need_one))
