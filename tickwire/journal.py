"""The live stream's journal (`stream_events`): what the ingester, the alert engine and the API
append, and what the API streams and replays.

Events are appended with `append()` as the *last* statement of a transaction: it updates the
one `stream_state` row, whose lock is held until COMMIT, so a second transaction appending at
the same time waits for the first to commit. Ids are therefore gap-free and in commit order:
a reader that has seen id N and later sees id N+k has seen, or can read, everything between.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Final, NamedTuple

import asyncpg

STREAM_CHANNEL: Final = "tickwire_stream"
"""NOTIFY channel; the payload is the newest committed event id."""
CONFIG_CHANNEL: Final = "tickwire_config"
"""NOTIFY channel (from triggers): alert rules, watchlists or devices changed."""
REPLAY_CHANNEL: Final = "tickwire_replay"
"""NOTIFY channel: an admin asked for a dead letter's replay (`ingest/replay.py`)."""
KINDS: Final = ("price", "telemetry", "device_status", "alert")
_COLUMNS: Final = ("id", "kind", "subject", "audience", "data")


class Event(NamedTuple):
    """One stream event: `data` is its JSON text, sent to clients as is."""

    kind: str
    subject: str
    data: str
    audience: uuid.UUID | None = None


async def append(conn: asyncpg.Connection, events: Sequence[Event]) -> int:
    """Append `events` inside the caller's transaction, as its last statement; return the
    last id given (0 when there was nothing to append)."""
    if not events:
        return 0
    last: int = await conn.fetchval(
        "UPDATE stream_state SET last_id = last_id + $1 RETURNING last_id", len(events)
    )
    first = last - len(events) + 1
    await conn.copy_records_to_table(
        "stream_events",
        records=[(first + i, e.kind, e.subject, e.audience, e.data) for i, e in enumerate(events)],
        columns=_COLUMNS,
    )
    await conn.execute("SELECT pg_notify($1, $2)", STREAM_CHANNEL, str(last))
    return last


async def prune(conn: asyncpg.Connection, keep_events: int, keep_seconds: float) -> int:
    """Drop events beyond the replay window: older than `keep_seconds`, or more than
    `keep_events` behind the newest. Returns how many were dropped."""
    status: str = await conn.execute(
        """DELETE FROM stream_events WHERE id <= greatest(
               (SELECT last_id FROM stream_state) - $1,
               (SELECT max(id) FROM stream_events
                WHERE at < now() - make_interval(secs => $2)))""",
        keep_events,
        keep_seconds,
    )
    return int(status.split()[-1])
