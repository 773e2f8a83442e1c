"""The batch writer's side: commit batches on every writer connection at once, retry while the
database is away, split a batch it refuses, then acknowledge the messages in arrival order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from ingest.batch import Batch, Item, dead_letter
from ingest.feed import Committed
from ingest.fresh import FreshDevices
from ingest.handoff import Handoff
from ingest.replay import settle
from ingest.settings import IngestSettings
from ingest.stats import Stats
from ingest.writer import Outcome, Writer

log = logging.getLogger("ingest")

#: SQLSTATE classes that mean "this data cannot be written", not "the server is away".
_DATA_ERROR_CLASSES = ("22", "23", "54")
_RETRY_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # a connection left mid-operation by a failure
    # 57xxx: the server is shutting down or starting up ("cannot connect now"), a cancel
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
)

OnCommit = Callable[[Committed, int], None]
"""Called with what a transaction committed and its `alert_feed` id (0: none)."""


async def write(
    handoff: Handoff,
    writers: list[Writer],
    settings: IngestSettings,
    done: asyncio.Event,
    on_commit: OnCommit | None,
    writable: asyncio.Event,
) -> None:
    """Commit batches on every writer connection at once (the database has cores to spare
    while one transaction waits on I/O); acknowledge a batch's messages after its commit and
    every earlier batch's, so acknowledgements keep the order messages arrived in. `done` is
    set once the last batch is acknowledged: then the MQTT connection may close.
    `on_commit` is called with what each transaction committed, in commit order;
    `writable` is cleared while the database is not taking a batch, set again once it does."""
    batches, idle, stats = handoff.batches, handoff.idle, handoff.stats
    free: asyncio.Queue[Writer] = asyncio.Queue()
    for writer in writers:
        free.put_nowait(writer)
    committed: dict[int, Batch] = {}
    next_ack = 0

    async def commit(writer: Writer, batch: Batch, seq: int) -> None:
        nonlocal next_ack
        used = await _write_until_committed(writer, batch, stats, settings, on_commit, writable)
        if used is not writer:  # reconnected: keep the list current for closing
            writers[writers.index(writer)] = writer = used
        handoff.backlog.committed(batch)
        committed[seq] = batch
        while next_ack in committed:
            handoff.subscriber.ack([item.message for item in committed.pop(next_ack).items])
            next_ack += 1
        free.put_nowait(writer)
        if batches.empty():
            idle.set()

    try:
        async with asyncio.TaskGroup() as lanes:
            seq = 0
            while (batch := await batches.get()) is not None:
                writer = await free.get()
                lanes.create_task(commit(writer, batch, seq), name=f"commit-{seq}")
                seq += 1
                if not free.empty() and batches.empty():
                    idle.set()
    finally:
        done.set()


async def _write_until_committed(
    writer: Writer,
    batch: Batch,
    stats: Stats,
    settings: IngestSettings,
    on_commit: OnCommit | None,
    writable: asyncio.Event,
) -> Writer:
    """Retry while the database is unreachable; split a batch the database refuses."""
    delay = 0.2
    while True:
        try:
            outcome = await writer.write(batch, stats, settings.ingest_instance)
            writable.set()
            _log_outcome(outcome, batch)
            if on_commit is not None:
                on_commit(outcome.committed, outcome.feed_id)
            return writer
        except asyncpg.PostgresError as exc:
            if not _is_data_error(exc) or batch.messages == 1:
                if not _is_data_error(exc):
                    log.warning("batch failed (%s); retrying", exc)
                else:
                    try:
                        await _dead_letter_refused(writer, batch.items[0], exc, stats, settings)
                        return writer
                    except (asyncpg.PostgresError, *_RETRY_ERRORS) as lost:
                        # The server went away in between: write the message again (refused
                        # again, it is dead-lettered then), never lose it.
                        log.warning("could not dead-letter (%s); retrying", lost)
            else:
                log.warning("database refused a batch (%s); writing it message by message", exc)
                for item in batch.items:
                    single = Batch(items=[item], rows=1)
                    writer = await _write_until_committed(
                        writer, single, stats, settings, on_commit, writable
                    )
                return writer
        except _RETRY_ERRORS as exc:
            log.warning("database unreachable (%s); retrying in %.1fs", exc, delay)
        writable.clear()
        # Whatever state the failure left the connection in (a server shutdown can cut it
        # mid-transaction), the retry starts on a fresh one.
        writer.conn.terminate()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
        with contextlib.suppress(*_RETRY_ERRORS):
            if writer.conn.is_closed():
                # Notifications may have been missed meanwhile: every writer forgets.
                writer.fresh.clear()
                writer = await connect_writer(settings, writer.on_late, writer.fresh)


async def _dead_letter_refused(
    writer: Writer, item: Item, exc: asyncpg.PostgresError, stats: Stats, settings: IngestSettings
) -> None:
    detail = f"{exc.sqlstate}: {exc}"[:500]
    row = dead_letter(item, "db_rejected", detail)
    if item.replay is not None:
        await settle(writer.conn, item.replay, [row], 0, 0)
        log.error("a replayed dead letter was refused by the database: %s", detail)
        return
    await writer.conn.execute(
        "INSERT INTO dead_letters (received_at, topic, payload, payload_size, reason, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        *row,
    )
    stats.dead_lettered += 1
    log.error("dead-lettered a message the database refused: %s", detail)


async def connect_writer(
    settings: IngestSettings,
    on_late: Callable[[], None] | None,
    fresh: FreshDevices | None = None,
) -> Writer:
    """A writer on a new connection; `fresh`: the memory it shares with the process's other
    writers (`ingest.fresh`)."""
    conn = await asyncpg.connect(settings.resolved_database_url())
    backend = await conn.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    if backend is None:
        raise RuntimeError("the database has no tickwire schema: run `python -m sql upgrade`")
    if backend == "timescaledb":
        # Late rows may land in compressed chunks; never refuse them for the decompression cap.
        await conn.execute("SET timescaledb.max_tuples_decompressed_per_dml_transaction = 0")
    writer = Writer(
        conn,
        backend,
        settings.auto_register,
        on_late,
        settings.ingest_seen_interval_s,
        defer_rollups=True,  # `ingest.merger` merges them
        fresh=fresh,
    )
    await writer.prepare()
    return writer


def _is_data_error(exc: asyncpg.PostgresError) -> bool:
    state = getattr(exc, "sqlstate", "") or ""
    return state[:2] in _DATA_ERROR_CLASSES


def _log_outcome(outcome: Outcome, batch: Batch) -> None:
    if outcome.dead_lettered:
        log.warning("dead-lettered %d of %d messages", outcome.dead_lettered, batch.messages)
    log.debug(
        "committed %d rows from %d messages (%d duplicates)",
        outcome.inserted,
        batch.messages,
        outcome.duplicates,
    )
