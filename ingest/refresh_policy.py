"""TimescaleDB's refresh policies as the refresher sees them: whose a window is, and whether
a policy run refreshed it (timescaledb_information.jobs, job_stats)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import asyncpg

from ingest.pending_windows import Window
from tickwire import timegrid


@dataclass(frozen=True, slots=True)
class Policy:
    """A level's refresh policy and its last run (timescaledb_information.jobs, job_stats)."""

    job_id: int
    start_offset: timedelta
    last_start: datetime | None
    last_status: str | None
    running: bool
    next_start: datetime | None

    def handoff(self, now: datetime, width: timedelta) -> datetime:
        """Windows older than this are the refresher's. A run refreshes the whole buckets of
        its window, from `ceil(start - start_offset)` on: runs that start later never reach
        further back than `ceil(now - start_offset)`, and one running now no further than its
        own start does."""
        since = self.last_start if self.running and self.last_start is not None else now
        return timegrid.ceil(min(since, now) - self.start_offset, width)

    def covered(self, window: Window, width: timedelta) -> bool:
        """Did a successful run that started after the window was ready refresh it?"""
        return (
            self.last_start is not None
            and self.last_start > window.ready_at
            and self.last_status == "Success"
            and not self.running
            and window.start >= timegrid.ceil(self.last_start - self.start_offset, width)
        )

    def idle_since(self, ready_at: datetime, now: datetime) -> bool:
        """No run started since `ready_at`, none running, none about to start."""
        started = self.last_start is not None and self.last_start > ready_at
        soon = self.next_start is not None and self.next_start <= now + _NUDGE_SLACK
        return not (started or self.running or soon)


def _policy(row: asyncpg.Record) -> Policy:
    job_id, start_offset, last_start, last_status, running, next_start = row[1:]
    return Policy(
        job_id,
        start_offset,
        _finite(last_start),
        last_status,
        bool(running),
        _finite(next_start),
    )


def _finite(instant: datetime | None) -> datetime | None:
    """asyncpg reads ±infinity as naive datetime.min / max: None here."""
    return instant if instant is not None and instant.tzinfo is not None else None


_NUDGE_SLACK: Final = timedelta(seconds=1)
_POLICIES_SQL: Final = """
SELECT j.hypertable_name, j.job_id, (j.config->>'start_offset')::interval,
       s.last_run_started_at, s.last_run_status, s.job_status = 'Running', j.next_start
FROM timescaledb_information.jobs j
LEFT JOIN timescaledb_information.job_stats s USING (job_id)
WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND j.scheduled"""


async def policies(conn: asyncpg.Connection) -> dict[str, Policy]:
    """The scheduled refresh policy of each continuous aggregate, by relation."""
    return {row[0]: _policy(row) for row in await conn.fetch(_POLICIES_SQL)}
