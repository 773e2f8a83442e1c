"""The ingester's `main()`: subscriber → bounded queue → receiver → batch writer.

`receiver` parses messages into a batch and hands it on when the flush policy says so;
`writer` commits each batch, then acknowledges its messages to the broker. On SIGTERM/SIGINT
the current batch is committed and acknowledged before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

import asyncpg

from ingest.alerts.engine import Engine
from ingest.backlog import Backlog
from ingest.batch import Batch, Item, dead_letter
from ingest.flush import FlushPolicy
from ingest.pruner import prune
from ingest.refresher import Refresher
from ingest.replay import feed as feed_replays
from ingest.replay import settle
from ingest.settings import IngestSettings
from ingest.stats import Stats
from ingest.subscriber import Subscriber
from ingest.writer import Committed, Outcome, Writer
from tickwire.aio import wait_any
from tickwire.contract import Limits
from tickwire.logs import setup_logging
from tickwire.settings import MqttAddress

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

OnCommit = Callable[[Committed], None]

#: The ingester counts as caught up (devices may be declared OFFLINE) while nothing it received
#: has waited longer than this for its commit.
CAUGHT_UP_S = 2.0


def main(settings: IngestSettings) -> None:
    setup_logging("ingest", settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(settings))


async def run(
    settings: IngestSettings,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> Stats:
    """Ingest until `stop` is set (or a signal arrives); return the counters.

    `ready` is set once the broker has confirmed the subscriptions.
    """
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    stats = Stats()
    rollups = Refresher(settings.resolved_database_url())
    writers = [
        await _connect_writer(settings, rollups.wake) for _ in range(settings.ingest_writers)
    ]
    subscriber = Subscriber(
        MqttAddress(settings.resolved_mqtt_url()),
        settings.ingest_client_id,
        settings.ingest_receive_maximum,
        settings.ingest_session_expiry_s,
        settings.ingest_queue_max,
        settings.mqtt_protocol,
    )
    batches: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=1)
    backlog = Backlog(subscriber)
    idle = asyncio.Event()
    idle.set()
    mqtt_stop = asyncio.Event()
    log.info(
        "ingesting into %s over %d connections (auto-register %s)",
        writers[0].backend,
        len(writers),
        settings.auto_register,
    )
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(subscriber.run(mqtt_stop), name="mqtt")
            tasks.create_task(
                receive(
                    subscriber,
                    batches,
                    idle,
                    settings.flush_policy(),
                    settings.limits(),
                    stats,
                    stop,
                    backlog,
                ),
                name="receiver",
            )
            # The alert engine declares no device OFFLINE while the ingester cannot hear the
            # broker or write to the database, or is still working through a backlog: that
            # silence is the ingester's own.
            writable = asyncio.Event()
            writable.set()
            attentive = (subscriber.subscribed, writable)
            engine = Engine(
                settings.resolved_database_url(),
                settings.alerts_max_lag_s,
                attentive,
                lambda: backlog.lag() <= CAUGHT_UP_S,
            )
            on_commit = engine.committed if settings.alerts_enabled else None
            tasks.create_task(
                write(
                    batches,
                    idle,
                    writers,
                    subscriber,
                    stats,
                    settings,
                    mqtt_stop,
                    on_commit,
                    writable,
                    backlog,
                ),
                name="writer",
            )
            if settings.alerts_enabled:
                tasks.create_task(engine.run(mqtt_stop), name="alerts")
            tasks.create_task(prune(settings, mqtt_stop), name="pruner")
            tasks.create_task(
                feed_replays(
                    settings.resolved_database_url(), settings.limits(), batches, idle, stop
                ),
                name="replay",
            )
            if writers[0].backend == "timescaledb":
                tasks.create_task(rollups.run(mqtt_stop), name="refresher")
            if ready is not None:
                tasks.create_task(_signal_ready(subscriber, ready, mqtt_stop), name="ready")
    finally:
        subscriber.close()
        for writer in writers:
            await writer.conn.close()
    log.info(
        "stopped: %d received, %d rows committed, %d duplicates, %d dead-lettered",
        stats.received,
        stats.committed_rows,
        stats.duplicates,
        stats.dead_lettered,
    )
    return stats


async def receive(
    subscriber: Subscriber,
    batches: asyncio.Queue[Batch | None],
    idle: asyncio.Event,
    policy: FlushPolicy,
    limits: Limits,
    stats: Stats,
    stop: asyncio.Event,
    backlog: Backlog,
) -> None:
    """Parse queued messages into batches; flush per `policy`; on stop flush and end."""
    batch = Batch()
    while True:
        writer_idle = idle.is_set()
        stopping = stop.is_set()
        if policy.should_flush(batch.rows, batch.messages, batch.age(), writer_idle or stopping):
            idle.clear()
            backlog.queued(batch)
            await batches.put(batch)
            batch = Batch()
            continue
        if stopping:
            await batches.put(None)
            return
        if not subscriber.inbox:
            wake_on = [stop] if writer_idle or not batch.messages else [stop, idle]
            subscriber.arrived.clear()
            timeout = policy.wait_s(batch.messages, batch.age(), writer_idle)
            await wait_any([subscriber.arrived, *wake_on], timeout)
        while batch.rows < policy.max_rows and batch.messages < policy.max_messages:
            # Take in chunks sized by the rows a message has carried so far, so a batch of
            # large store-and-forward messages stops near max_rows, not far past it.
            per_message = max(1, batch.rows // max(1, batch.messages))
            room = (policy.max_rows - batch.rows) // per_message if batch.messages else 1
            taken = subscriber.take(max(1, min(256, room, policy.max_messages - batch.messages)))
            if not taken:
                break
            for message in taken:
                batch.add(message, limits)
            stats.received += len(taken)


async def write(
    batches: asyncio.Queue[Batch | None],
    idle: asyncio.Event,
    writers: list[Writer],
    subscriber: Subscriber,
    stats: Stats,
    settings: IngestSettings,
    done: asyncio.Event,
    on_commit: OnCommit | None,
    writable: asyncio.Event,
    backlog: Backlog,
) -> None:
    """Commit batches on every writer connection at once (the database has cores to spare
    while one transaction waits on I/O); acknowledge a batch's messages after its commit and
    every earlier batch's, so acknowledgements keep the order messages arrived in. `done` is
    set once the last batch is acknowledged: then the MQTT connection may close.
    `on_commit` is called with what each transaction committed, in commit order;
    `writable` is cleared while the database is not taking a batch, set again once it does."""
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
        backlog.committed(batch)
        committed[seq] = batch
        while next_ack in committed:
            subscriber.ack([item.message for item in committed.pop(next_ack).items])
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
                on_commit(outcome.committed)
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
                writer = await _connect_writer(settings, writer.on_late)


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


async def _signal_ready(
    subscriber: Subscriber, ready: asyncio.Event, mqtt_stop: asyncio.Event
) -> None:
    await wait_any([subscriber.subscribed, mqtt_stop], None)
    if subscriber.subscribed.is_set():
        ready.set()


async def _connect_writer(settings: IngestSettings, on_late: Callable[[], None] | None) -> Writer:
    conn = await asyncpg.connect(settings.resolved_database_url())
    backend = await conn.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    if backend is None:
        raise RuntimeError("the database has no tickwire schema: run `python -m sql upgrade`")
    if backend == "timescaledb":
        # Late rows may land in compressed chunks; never refuse them for the decompression cap.
        await conn.execute("SET timescaledb.max_tuples_decompressed_per_dml_transaction = 0")
    writer = Writer(conn, backend, settings.auto_register, on_late)
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
