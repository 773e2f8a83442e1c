"""The ingester's `main()`: subscriber → bounded queue → receiver → batch writer.

`receiver` parses messages into a batch and hands it on when the flush policy says so;
`writer` (committer.py) commits each batch, then acknowledges its messages to the broker. On
SIGTERM/SIGINT the current batch is committed and acknowledged before the process exits.

`python -m ingest --alerts-only` runs the alert engine alone (`alerts_only`): it reads the
feed every ingester writes, and leads or stands by like the engines inside ingesters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal

from ingest.alerts.engine import Engine
from ingest.alerts.hearing import Hearing
from ingest.backlog import CAUGHT_UP_S, Backlog
from ingest.batch import Batch
from ingest.committer import connect_writer, write
from ingest.flush import FlushPolicy
from ingest.fresh import FreshDevices
from ingest.handoff import Handoff
from ingest.heartbeat import beat
from ingest.merger import Merger
from ingest.pruner import prune
from ingest.refresher import Refresher
from ingest.replay import feed as feed_replays
from ingest.settings import IngestSettings
from ingest.stats import Stats
from ingest.subscriber import Subscriber
from tickwire.aio import wait_any
from tickwire.contract import Limits
from tickwire.logs import setup_logging

log = logging.getLogger("ingest")

#: A 10 000-row batch allocates ~100 000 objects that live as long as its transaction: young
#: collections after each 100 000 (not 10 000) let most of them die before one runs, and the
#: older generations are collected less often (the alert engine keeps up to 200 000 committed
#: rows, which a full collection walks): ~10 % less ingester CPU per row under batch payloads
#: (docs/ingest.md). A full collection is still considered every 100 M allocations.
_GC_THRESHOLDS = (100_000, 50, 20)


def main(settings: IngestSettings, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ingest")
    parser.add_argument(
        "--alerts-only", action="store_true", help="run the alert engine only (no ingesting)"
    )
    args = parser.parse_args(argv)
    setup_logging("ingest", settings.log_level)
    # What start-up made (modules, settings) lives as long as the process: keep it out of
    # every collection, and collect the young generation less often (a batch allocates
    # thousands of short-lived objects, few of them in reference cycles).
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(alerts_only(settings) if args.alerts_only else run(settings))


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)


def hearing(settings: IngestSettings, own: bool) -> Hearing:
    """How an engine learns whether the ingesters hear everything; `own`: it runs in one."""
    stale, gone = settings.alerts_ingester_stale_s, settings.alerts_ingester_gone_s
    if own:
        return Hearing(stale, gone, need_one=False, own=settings.ingest_instance)
    return Hearing(stale, gone, need_one=True)


async def alerts_only(settings: IngestSettings, stop: asyncio.Event | None = None) -> None:
    """The alert engine as its own process: until `stop` (or a signal)."""
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    engine = Engine(
        settings.resolved_database_url(),
        settings.alerts_max_lag_s,
        hearing=hearing(settings, own=False),
        name=settings.ingest_instance,
    )
    log.info("alert engine %s starting", settings.ingest_instance)
    await engine.run(stop)


async def _rollup_upkeep(
    backend: str, rollups: Refresher, settings: IngestSettings, stats: Stats, stop: asyncio.Event
) -> None:
    """TimescaleDB: refresh the windows late rows need; plain PostgreSQL: merge the partials
    batches appended (`ingest.merger`)."""
    if backend == "timescaledb":
        await rollups.run(stop)
    else:
        every_s = settings.rollup_merge_interval_ms / 1000
        await Merger(settings.resolved_database_url(), every_s, stats).run(stop)


async def run(
    settings: IngestSettings,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> Stats:
    """Ingest until `stop` is set (or a signal arrives); return the counters.

    `ready` is set once the broker has confirmed the subscriptions.
    """
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    stats = Stats()
    rollups = Refresher(settings.resolved_database_url())
    fresh = FreshDevices()  # one memory of fresh device rows for all writers
    # At once: a restart resumes sooner (each connection is a round trip or more).
    writers = list(
        await asyncio.gather(
            *(connect_writer(settings, rollups.wake, fresh) for _ in range(settings.ingest_writers))
        )
    )
    subscriber = Subscriber(
        settings.mqtt_address(),
        settings.client_id(),
        settings.ingest_receive_maximum,
        settings.ingest_session_expiry_s,
        settings.ingest_queue_max,
        settings.mqtt_protocol,
        settings.subscriptions(),
    )
    batches: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=1)
    backlog = Backlog(subscriber)
    idle = asyncio.Event()
    idle.set()
    handoff = Handoff(subscriber, batches, idle, backlog, stats)
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
                receive(handoff, settings.flush_policy(), settings.limits(), stop),
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
                hearing(settings, own=True),
                settings.ingest_instance,
            )
            tasks.create_task(
                beat(
                    settings.resolved_database_url(),
                    settings.ingest_instance,
                    stats.started_at,
                    lambda: all(e.is_set() for e in attentive) and backlog.lag() <= CAUGHT_UP_S,
                    mqtt_stop,
                ),
                name="heartbeat",
            )
            on_commit = engine.committed if settings.alerts_enabled else None
            tasks.create_task(
                write(handoff, writers, settings, mqtt_stop, on_commit, writable),
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
            tasks.create_task(
                _rollup_upkeep(writers[0].backend, rollups, settings, stats, mqtt_stop),
                name="rollups",
            )
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
    handoff: Handoff, policy: FlushPolicy, limits: Limits, stop: asyncio.Event
) -> None:
    """Parse queued messages into batches; flush per `policy`; on stop flush and end."""
    subscriber, batches, idle = handoff.subscriber, handoff.batches, handoff.idle
    batch = Batch()
    while True:
        writer_idle = idle.is_set()
        stopping = stop.is_set()
        if policy.should_flush(batch.rows, batch.messages, batch.age(), writer_idle or stopping):
            idle.clear()
            handoff.backlog.queued(batch)
            await batches.put(batch)
            batch = Batch()
            continue
        if stopping:
            await batches.put(None)
            return
        if not subscriber.inbox:
            timeout = policy.wait_s(batch.messages, batch.age(), writer_idle)
            if batch.messages and writer_idle:
                # Lingering: the batch goes when the linger ends, whatever arrives meanwhile
                # (far fewer than a batch holds): take it all then, not one wake-up each.
                await wait_any([stop], timeout)
            else:
                wake_on = [stop] if writer_idle or not batch.messages else [stop, idle]
                subscriber.arrived.clear()
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
            handoff.stats.received += len(taken)


async def _signal_ready(
    subscriber: Subscriber, ready: asyncio.Event, mqtt_stop: asyncio.Event
) -> None:
    await wait_any([subscriber.subscribed, mqtt_stop], None)
    if subscriber.subscribed.is_set():
        ready.set()
