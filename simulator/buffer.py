"""The store-and-forward buffer: every data message a device produces, until the broker has it.

One SQLite file per simulator process (WAL), one table: a row per data message, written and
committed before the message is published, deleted once the broker acknowledged (PUBACK) the
message that carried it. What a killed process left behind is flushed by the next one.

Bounded: past `max_rows` the oldest rows (of any device) make room for new ones, and a
warning says how many were dropped. Keeping the newest is the choice of a monitoring device:
after a long outage the recent past and the present matter most.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

log = logging.getLogger("simulator.buffer")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS readings (
    id        INTEGER PRIMARY KEY,  -- insertion order: the oldest go first when full
    device_id TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    topic     TEXT NOT NULL,
    payload   TEXT NOT NULL         -- the message as published live (JSON)
);
CREATE UNIQUE INDEX IF NOT EXISTS readings_device_seq ON readings (device_id, seq);
"""

#: Evict this share of `max_rows` at once, so a full buffer does not evict on every insert.
_EVICT_SHARE: Final = 0.01
_WARN_EVERY_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    topic: str
    payload: str


class Buffer:
    """The buffer file, used from the asyncio thread only.

    Inserts commit at once (a reading is in the buffer before it leaves). Deletions are
    queued by `acked()` and applied by `sync()` (the app calls it a few times a second) or
    before any read: a deletion applied late only risks sending a reading twice, which the
    ingester absorbs, never losing one.
    """

    def __init__(self, path: Path, max_rows: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_rows = max_rows
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a process kill
        self._db.executescript(_SCHEMA)
        self._rows: int = self._db.execute("SELECT count(*) FROM readings").fetchone()[0]
        self._acked: list[tuple[str, int]] = []
        self.evicted = 0
        self._evicted_unreported = 0
        self._warned = 0.0

    def __len__(self) -> int:
        """Rows kept (including those acknowledged but not yet deleted)."""
        return self._rows

    def last_seqs(self) -> dict[str, int]:
        """The highest seq kept per device (a restarted device continues from there)."""
        rows = self._db.execute("SELECT device_id, max(seq) FROM readings GROUP BY device_id")
        return {device_id: seq for device_id, seq in rows}

    def add(self, device_id: str, rows: Iterable[tuple[int, str, str]]) -> None:
        """Keep (seq, topic, payload) rows of a device, committed when this returns."""
        batch = [(device_id, seq, topic, payload) for seq, topic, payload in rows]
        if self._rows + len(batch) > self.max_rows:
            self._evict(self._rows + len(batch) - self.max_rows)
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO readings (device_id, seq, topic, payload) VALUES (?, ?, ?, ?)",
                batch,
            )
        self._rows += len(batch)

    def after(self, device_id: str, seq: int, limit: int) -> list[Row]:
        """Up to `limit` rows of a device with a seq above `seq`, in seq order."""
        self.sync()
        found = self._db.execute(
            "SELECT seq, topic, payload FROM readings WHERE device_id = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (device_id, seq, limit),
        )
        return [Row(*row) for row in found]

    def acked(self, device_id: str, seqs: Iterable[int]) -> None:
        """The broker acknowledged these rows: delete them (at the next `sync()`)."""
        self._acked.extend((device_id, seq) for seq in seqs)

    def sync(self) -> None:
        """Apply queued deletions in one transaction; say if rows were evicted meanwhile."""
        if self._acked:
            acked, self._acked = self._acked, []
            before = self._db.total_changes
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("DELETE FROM readings WHERE device_id = ? AND seq = ?", acked)
            self._rows -= self._db.total_changes - before
        if self._evicted_unreported and time.monotonic() - self._warned > _WARN_EVERY_S:
            self._warn()

    def count(self, device_id: str) -> int:
        self.sync()
        found = self._db.execute("SELECT count(*) FROM readings WHERE device_id = ?", (device_id,))
        return int(found.fetchone()[0])

    def close(self, remove_if_empty: bool = True) -> None:
        """Apply deletions and close; an empty buffer's file is removed."""
        self.sync()
        if self._evicted_unreported:
            self._warn()
        self._db.close()
        if remove_if_empty and self._rows == 0:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def _evict(self, needed: int) -> None:
        count = max(needed, int(self.max_rows * _EVICT_SHARE), 1)
        self.sync()
        with self._db:
            self._db.execute("BEGIN")
            cursor = self._db.execute(
                "DELETE FROM readings WHERE id IN (SELECT id FROM readings ORDER BY id LIMIT ?)",
                (count,),
            )
        self._rows -= cursor.rowcount
        self.evicted += cursor.rowcount
        self._evicted_unreported += cursor.rowcount
        if time.monotonic() - self._warned > _WARN_EVERY_S:
            self._warn()

    def _warn(self) -> None:
        log.warning(
            "buffer full (%d readings kept in %s): dropped the %d oldest readings"
            " (%d in all); the newest are kept",
            self.max_rows,
            self.path,
            self._evicted_unreported,
            self.evicted,
        )
        self._evicted_unreported = 0
        self._warned = time.monotonic()
