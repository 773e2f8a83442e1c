"""The alert engine's feed (`alert_feed`): what each committed batch changed, appended by the
writer in the batch's transaction, read by whichever engine leads, from its cursor.

Like the stream journal, an append updates the one `alert_feed_state` row, whose lock is held
until COMMIT: ids are gap-free and in commit order, so a reader that has seen id N+k can read
everything from N. Unlike the journal, the feed carries *every* row a batch inserted (the
journal keeps one telemetry event per device per batch), and it is not streamed to clients.
Times travel as integer microseconds since the epoch (exact round trip).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

import asyncpg
import orjson

from tickwire.contract import PriceRow, TelemetryRow

FEED_CHANNEL: Final = "tickwire_alert_feed"
"""NOTIFY channel: a batch appended to the feed (the payload is its id)."""
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = timedelta(microseconds=1)

_APPEND: Final = """
WITH s AS (UPDATE alert_feed_state SET last_id = last_id + 1 RETURNING last_id),
ins AS (INSERT INTO alert_feed (id, data) SELECT s.last_id, $1 FROM s)
SELECT s.last_id FROM s, LATERAL (SELECT pg_notify($2, s.last_id::text)) AS n"""


@dataclass(slots=True)
class Committed:
    """What a committed batch changed, for the alert engine."""

    prices: list[PriceRow]
    """Rows inserted by this batch (never duplicates)."""
    telemetry: list[TelemetryRow]
    seen: dict[str, datetime]
    """Device → newest receive time of its messages in the batch (data, heartbeat, ack)."""
    online: dict[str, str]
    """Device → previous status, for the devices this batch set ONLINE."""
    received_at: datetime
    """Newest receive time of the batch."""


class Entry(NamedTuple):
    id: int
    committed: Committed


def _us(at: datetime) -> int:
    return (at - _EPOCH) // _MICRO


def _at(us: int) -> datetime:
    return _EPOCH + us * _MICRO


def encode(batch: Committed) -> bytes:
    return orjson.dumps(
        {
            "p": [(_us(t), ticker, p, v, s) for t, ticker, p, v, s in batch.prices],
            "t": [(_us(t), d, m, v) for t, d, m, v in batch.telemetry],
            "s": {d: _us(at) for d, at in batch.seen.items()},
            "o": batch.online,
            "r": _us(batch.received_at),
        }
    )


def decode(data: str | bytes) -> Committed:
    raw = orjson.loads(data)
    return Committed(
        prices=[(_at(t), ticker, p, v, s) for t, ticker, p, v, s in raw["p"]],
        telemetry=[(_at(t), d, m, v) for t, d, m, v in raw["t"]],
        seen={d: _at(us) for d, us in raw["s"].items()},
        online=raw["o"],
        received_at=_at(raw["r"]),
    )


async def append(conn: asyncpg.Connection, batch: Committed) -> int:
    """Append the batch inside the caller's transaction, as late as possible (before the
    journal's append); return its id, 0 when it holds nothing the engine uses."""
    if not (batch.prices or batch.telemetry or batch.seen or batch.online):
        return 0
    last: int = await conn.fetchval(_APPEND, encode(batch).decode(), FEED_CHANNEL)
    return last


class Page(NamedTuple):
    entries: list[Entry]
    more: bool
    """Whether entries after these were there already (the page was full)."""


async def read(conn: asyncpg.Connection, after: int, limit: int, max_bytes: int = 8 << 20) -> Page:
    """Up to `limit` entries after id `after`, in order, stopping before `max_bytes` of data
    (the first entry always comes, whatever its size)."""
    rows = await conn.fetch(
        """SELECT id, data, n FROM (
               SELECT id, data, count(*) OVER () AS n,
                      sum(octet_length(data)) OVER (ORDER BY id) AS upto
               FROM (SELECT id, data FROM alert_feed WHERE id > $1 ORDER BY id LIMIT $2) f
           ) page
           WHERE upto - octet_length(data) < $3 ORDER BY id""",
        after,
        limit,
        max_bytes,
    )
    entries = [Entry(row["id"], decode(row["data"])) for row in rows]
    return Page(entries, bool(rows) and (len(rows) < rows[0]["n"] or len(rows) == limit))


async def prune(conn: asyncpg.Connection, keep_s: float) -> int:
    """Drop what the engine consumed, and what is older than `keep_s` even if not (no engine
    ran that long: the engine that comes sees the gap and starts over from the database)."""
    status: str = await conn.execute(
        """DELETE FROM alert_feed WHERE id <= greatest(
               (SELECT cursor FROM alert_engine),
               (SELECT max(id) FROM alert_feed WHERE at < now() - make_interval(secs => $1)))""",
        keep_s,
    )
    return int(status.split()[-1])
