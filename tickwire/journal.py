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
PORTFOLIO_CHANNEL: Final = "tickwire_portfolios"
"""NOTIFY channel (from the API): a portfolio's transactions changed; the payload is its id."""
KINDS: Final = ("price", "telemetry", "device_status", "alert")


class Event(NamedTuple):
    """One stream event: `data` is its JSON text, sent to clients as is."""

    kind: str
    subject: str
    data: str
    audience: uuid.UUID | None = None


#: Appends of this many events or more (a big fleet's batch: one event per device) take the
#: ids in one statement and COPY the events: asyncpg type-checks every element of an array
#: parameter in Python, which costs more than COPY's two round trips from here.
COPY_FROM: Final = 200
_COLUMNS: Final = ("id", "kind", "subject", "audience", "data")


async def append(conn: asyncpg.Connection, events: Sequence[Event]) -> int:
    """Append `events` inside the caller's transaction, as its last statement(s); return the
    last id given (0 when there was nothing to append)."""
    if not events:
        return 0
    if len(events) >= COPY_FROM:
        last_id: int = await conn.fetchval(_TAKE, len(events), STREAM_CHANNEL)
        first = last_id - len(events) + 1
        records = [
            (first + n, kind, subject, audience, data)
            for n, (kind, subject, data, audience) in enumerate(events)
        ]
        await conn.copy_records_to_table("stream_events", records=records, columns=_COLUMNS)
        return last_id
    last: int = await conn.fetchval(
        _APPEND,
        len(events),
        [e.kind for e in events],
        [e.subject for e in events],
        [e.audience for e in events],
        [e.data for e in events],
        STREAM_CHANNEL,
    )
    return last


#: One statement (one round trip): take the ids, insert the events in their order, notify.
_APPEND: Final = """
WITH s AS (UPDATE stream_state SET last_id = last_id + $1 RETURNING last_id),
ins AS (
    INSERT INTO stream_events (id, kind, subject, audience, data)
    SELECT s.last_id - $1 + e.n, e.kind, e.subject, e.audience, e.data
    FROM s, unnest($2::text[], $3::text[], $4::uuid[], $5::text[])
        WITH ORDINALITY AS e(kind, subject, audience, data, n)
)
SELECT s.last_id FROM s, LATERAL (SELECT pg_notify($6, s.last_id::text)) AS n"""

#: The ids of $1 events COPYed next, in the same transaction (the notification goes at
#: COMMIT, with the rows).
_TAKE: Final = """
WITH s AS (UPDATE stream_state SET last_id = last_id + $1 RETURNING last_id)
SELECT s.last_id FROM s, LATERAL (SELECT pg_notify($2, s.last_id::text)) AS n"""


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
