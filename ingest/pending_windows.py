"""`rollup_pending` rows as the refresher sees them: merged into windows, and updated.

ingest/refresher.py decides what to do with each window; this module reads and writes the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import asyncpg

_NEVER: Final = datetime.min.replace(tzinfo=UTC)


@dataclass(slots=True)
class Window:
    """Pending rows of one relation merged into one refresh."""

    relation: str
    start: datetime
    end: datetime
    ids: list[int] = field(default_factory=list)
    due: bool = False
    ready_at: datetime = _NEVER

    @property
    def kind(self) -> str:
        return self.relation.rsplit("_", 1)[0]

    @property
    def level(self) -> str:
        return self.relation.rsplit("_", 1)[1]

    def overlaps(self, other: Window) -> bool:
        return self.start < other.end and other.start < self.end


def merged(rows: list[asyncpg.Record]) -> list[Window]:
    """Overlapping or touching windows of a relation as one (rows sorted by relation, start);
    a merged window is due when any of its rows is, ready when all of them are."""
    windows: list[Window] = []
    for row in rows:
        last = windows[-1] if windows else None
        if last and last.relation == row["relation"] and row["window_start"] <= last.end:
            last.end = max(last.end, row["window_end"])
        else:
            last = Window(row["relation"], row["window_start"], row["window_end"])
            windows.append(last)
        last.ids.append(row["id"])
        last.due = last.due or row["due"]
        last.ready_at = max(last.ready_at, row["ready_at"])
    return windows


async def ready_now(conn: asyncpg.Connection, window: Window) -> None:
    ready_at = await conn.fetchval(
        "UPDATE rollup_pending SET ready_at = now() WHERE id = ANY($1::bigint[])"
        " RETURNING ready_at",
        window.ids,
    )
    window.ready_at = ready_at or window.ready_at  # None: another ingester's refresher took it


async def delete(conn: asyncpg.Connection, ids: list[int], before: datetime | None = None) -> None:
    """Delete the rows `ids` (`before`: only those ending by then; the others start then)."""
    if before is None:
        await conn.execute("DELETE FROM rollup_pending WHERE id = ANY($1::bigint[])", ids)
        return
    await conn.execute(
        "DELETE FROM rollup_pending WHERE id = ANY($1::bigint[]) AND window_end <= $2", ids, before
    )
    await conn.execute(
        "UPDATE rollup_pending SET window_start = greatest(window_start, $2)"
        " WHERE id = ANY($1::bigint[])",
        ids,
        before,
    )
