"""The alert engine's feed (`alert_feed`): what each committed batch changed, appended by the
writer in the batch's transaction, read by whichever engine leads, from its cursor.

Like the stream journal, an append updates the one `alert_feed_state` row, whose lock is held
until COMMIT: ids are gap-free and in commit order, so a reader that has seen id N+k can read
everything from N. Unlike the journal, the feed carries *every* row a batch inserted (the
journal keeps one telemetry event per device per batch), and it is not streamed to clients.
Times travel as ISO 8601 text with microseconds (orjson writes the rows' tuples as they are, no
per-row Python; exact round trip); entries of the first format, integer microseconds since
the epoch, are still read.

The engine in the writer's own process is handed each batch it committed (`Local`) and reads
only the ids of those entries back, not their data: a batch of 10 000 rows is ~0.6 MB of JSON
to fetch and decode.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

import asyncpg
import orjson

from tickwire.contract import PriceRow, TelemetryRow

FEED_CHANNEL: Final = "tickwire_alert_feed"
"""NOTIFY channel: a batch appended to the feed (the payload is its id)."""
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = timedelta(microseconds=1)
_OPTS: Final = orjson.OPT_UTC_Z
_iso: Final = datetime.fromisoformat

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


def _at(us: int) -> datetime:
    return _EPOCH + us * _MICRO


def _time(value: str | int) -> datetime:
    """A time as either format wrote it."""
    return _iso(value) if type(value) is str else _at(value)  # type: ignore[arg-type]


def encode(batch: Committed) -> bytes:
    return orjson.dumps(
        {
            "p": batch.prices,
            "t": batch.telemetry,
            "s": batch.seen,
            "o": batch.online,
            "r": batch.received_at,
        },
        option=_OPTS,
    )


def decode(data: str | bytes) -> Committed:
    raw = orjson.loads(data)
    return Committed(
        prices=[(_time(t), ticker, p, v, s) for t, ticker, p, v, s in raw["p"]],
        telemetry=_telemetry(raw["t"]),
        seen={d: _time(at) for d, at in raw["s"].items()},
        online=raw["o"],
        received_at=_time(raw["r"]),
    )


def _telemetry(rows: list[list[Any]]) -> list[TelemetryRow]:
    """The rows with their times read back; a reading's metrics share one time: read it once."""
    out: list[TelemetryRow] = []
    last: str | int | None = None
    at = _EPOCH
    for t, d, m, v in rows:
        if t != last:
            at, last = _time(t), t
        out.append((at, d, m, v))
    return out


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


class Local:
    """Batches this process committed, by feed id, for its own leading engine: `read` takes
    them from here rather than fetching and decoding their data. Bounded (the oldest go first)
    by `keep_rows`, their rows in all; one missing when read is fetched as any other entry."""

    def __init__(self, keep_rows: int = 200_000) -> None:
        self.keep_rows = keep_rows
        self._batches: OrderedDict[int, Committed] = OrderedDict()
        self._rows = 0

    def add(self, entry_id: int, batch: Committed) -> None:
        if entry_id <= 0:
            return
        self._batches[entry_id] = batch
        self._rows += _size(batch)
        while self._rows > self.keep_rows and self._batches:
            self._rows -= _size(self._batches.popitem(last=False)[1])

    def clear(self) -> None:
        self._batches.clear()
        self._rows = 0

    def ids(self, after: int) -> list[int]:
        """The ids held after `after` (those up to it are dropped: read already)."""
        while self._batches:
            first = next(iter(self._batches))
            if first > after:
                break
            self._rows -= _size(self._batches.pop(first))
        return list(self._batches)

    def take(self, entry_id: int) -> Committed | None:
        batch = self._batches.pop(entry_id, None)
        if batch is not None:
            self._rows -= _size(batch)
        return batch


def _size(batch: Committed) -> int:
    return len(batch.prices) + len(batch.telemetry) + 1


async def read(
    conn: asyncpg.Connection,
    after: int,
    limit: int,
    max_bytes: int = 8 << 20,
    local: Local | None = None,
) -> Page:
    """Up to `limit` entries after id `after`, in order, stopping before `max_bytes` of data
    (the first entry always comes, whatever its size). `local`: batches this process wrote,
    whose data is not fetched."""
    held = local.ids(after) if local is not None else []
    rows = await conn.fetch(
        """SELECT id, CASE WHEN id = ANY($4::int8[]) THEN NULL ELSE data END AS data, n FROM (
               SELECT id, data, count(*) OVER () AS n,
                      sum(octet_length(data)) OVER (ORDER BY id) AS upto
               FROM (SELECT id, data FROM alert_feed WHERE id > $1 ORDER BY id LIMIT $2) f
           ) page
           WHERE upto - octet_length(data) < $3 ORDER BY id""",
        after,
        limit,
        max_bytes,
        held,
    )
    entries = [Entry(row["id"], await _batch(conn, local, row["id"], row["data"])) for row in rows]
    return Page(entries, bool(rows) and (len(rows) < rows[0]["n"] or len(rows) == limit))


async def _batch(
    conn: asyncpg.Connection, local: Local | None, entry_id: int, data: str | None
) -> Committed:
    # Held here even when its data came: committed after `held` was taken, before the page
    # was read (the engine reads while the writers commit); decoding it would cost more.
    batch = local.take(entry_id) if local is not None else None
    if batch is not None:
        return batch
    if data is not None:
        return decode(data)
    # Dropped from `local` while the page was read (it was full): fetch it after all.
    return decode(await conn.fetchval("SELECT data FROM alert_feed WHERE id = $1", entry_id))


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
