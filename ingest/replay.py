"""Replaying dead letters after a fix (`POST /api/admin/dead-letters/{id}/replay`).

The API marks the dead letter (`replay_requested_at`) and notifies `REPLAY_CHANNEL`; `feed`
hands each requested one, as a batch of its own, to the ingester's writers — the path of live
messages: the contract's parsing and identity rules, exactly-once keys, rollups, stream events
and the alert engine. The writer settles the request in that batch's transaction (`settle`):
the rows land and the request is marked done together, or neither does; a replay that still
fails leaves the same dead letter with its new reason. Replaying twice adds no row (the
natural keys), and a replayed message is no sign of life of its device (`flatten`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any, Final

import asyncpg

from ingest.batch import Batch, DeadLetter, Replay
from ingest.subscriber import Received
from tickwire.aio import wait_any
from tickwire.contract import Limits
from tickwire.journal import REPLAY_CHANNEL

log = logging.getLogger("ingest.replay")

_POLL_S: Final = 5.0
"""How often requests are looked for without a notification (one sent while away)."""
_REQUESTED_SQL: Final = """
SELECT id, replay_requested_at, received_at, topic, payload FROM dead_letters
WHERE replay_requested_at IS NOT NULL ORDER BY replay_requested_at, id LIMIT 100"""
_SETTLE_SQL: Final = """
UPDATE dead_letters SET replay_requested_at = NULL, replayed_at = now(), replay_outcome = $3,
    replay_rows = $4, replay_duplicates = $5, replay_detail = $6,
    reason = coalesce($7, reason), detail = coalesce($8, detail)
WHERE id = $1 AND replay_requested_at = $2"""


async def feed(
    database_url: str,
    limits: Limits,
    batches: asyncio.Queue[Batch | None],
    idle: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    """Until `stop`: queue a batch for every replay requested (retrying while the database is
    away). A request is queued again only once the one queued before was settled."""
    queued: dict[int, datetime] = {}
    wake = asyncio.Event()
    conn: asyncpg.Connection | None = None
    try:
        while not stop.is_set():
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(database_url)
                    await conn.add_listener(REPLAY_CHANNEL, lambda *_: wake.set())
                wake.clear()
                requested = await conn.fetch(_REQUESTED_SQL)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("cannot look for replay requests (%s); retrying", exc)
                if conn is not None:
                    conn.terminate()
                requested = []
            pending = {row["id"]: row["replay_requested_at"] for row in requested}
            for row in requested:
                # No await between this check and the put: once stopping, the receiver's last
                # batch and its end mark come after every batch queued here.
                if stop.is_set():
                    return
                if queued.get(row["id"]) != row["replay_requested_at"]:
                    idle.clear()
                    await batches.put(_batch(row, limits))
            queued = pending
            await wait_any([wake, stop], _POLL_S)
    finally:
        if conn is not None:
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await conn.close()


def _batch(row: Any, limits: Limits) -> Batch:
    replay = Replay(row["id"], row["replay_requested_at"], row["received_at"])
    log.info("replaying dead letter %d (%s)", replay.dead_letter_id, row["topic"][:200])
    # QoS 0: nothing to acknowledge to the broker.
    message = Received(row["topic"], bytes(row["payload"]), 0, 0, -1, 0.0)
    batch = Batch()
    batch.add(message, limits, replay)
    return batch


async def settle(
    conn: asyncpg.Connection,
    replay: Replay,
    dead: list[DeadLetter],
    inserted: int,
    duplicates: int,
) -> None:
    """Mark the request done, in the transaction that wrote what the replay carried: rows
    (`ingested`, with the parts still refused in `replay_detail`) or, when nothing of it was
    accepted, the dead letter's new reason and detail (`rejected`)."""
    refused = "; ".join(f"{d[4]}: {d[5]}" for d in dead)[:2000] or None
    if inserted + duplicates or not dead:
        outcome, reason, detail = "ingested", None, None
    else:
        outcome, reason, detail = "rejected", dead[0][4], dead[0][5]
    await conn.execute(
        _SETTLE_SQL,
        replay.dead_letter_id,
        replay.requested_at,
        outcome,
        inserted,
        duplicates,
        refused,
        reason,
        detail,
    )
