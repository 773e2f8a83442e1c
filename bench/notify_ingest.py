"""Notifications during ingest: the ingester's throughput with and without three channels, and
alert change → webhook received latency on that same ingest run (`python -m bench.notify`).

Per round, two conditions, interleaved (in the order (a), (b), then (b), (a) in the next round,
and so on), each on a fresh database of the run's PostgreSQL with the same 100 (quick: 50)
devices registered to one user:

(a) no notification channel: the real `python -m ingest` drains a backlog as in
    `bench/ingest.py`;
(b) the user's three webhook channels (two answering receivers, one black hole) and the
    notifier (`python -m notify`) running from before the backlog is published; the same drain.

The telemetry alternates every `period` readings of a device between about 24 °C and 31.5 °C,
so the alert engine raises and clears the built-in HIGH_TEMP alert (> 30 °C, clears ≤ 29 °C)
on every device while the backlog goes in: each change is an alerts row, an alert_events row,
a journal event and, in (b) only, an outbox row. The backlog is older than the engine's
freshness window would let through, so both conditions run the ingester with
`TICKWIRE_ALERTS_MAX_LAG_S` set to a day (every reading evaluated).

Latency, (b): from the alert's time of change in the database (`raised_at` / `cleared_at`,
the engine transaction's `now()`, as the webhook body carries it) to the receipt at each
answering receiver. Changes come in bursts as the backlog drains, so this includes the
notifier's queue behind a burst. After the drain, each answering receiver must get every
change once: lost / dup are counted by delivery id against the changes in the database, and
the telemetry's by `bench/tally.py`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import orjson
import psycopg

from bench.ingester import run_ingester
from bench.publisher import publish
from bench.sessions import Session, prime
from bench.stack import Stack, checkpoint, fresh_database
from bench.tally import tally_telemetry
from bench.workload import Workload, alert_changes, alternating_readings
from ingest.settings import IngestSettings
from tests.notify_support import Received, Receiver
from tests.process_support import service
from tests.support import wait_until
from tickwire.notifications import DELIVERY_HEADER

log = logging.getLogger("bench.notify")
SECRET: Final = "bench-secret-0123456789"
LAG_S: Final = "86400"


@dataclass(frozen=True, slots=True)
class Sizes:
    messages: int
    devices: int
    period: int


@dataclass(frozen=True, slots=True)
class Drain:
    """One condition of one round."""

    msgs_s: float
    changes: int
    lost: int
    dup: int
    latencies_ms: list[float]


def run_rounds(servers: Stack, sizes: Sizes, rounds: int, hooks: list[Receiver]) -> dict[str, Any]:
    workload = alternating_readings(sizes.messages, sizes.devices, sizes.period)
    expected = alert_changes(sizes.messages, sizes.devices, sizes.period)
    plain: list[Drain] = []
    notified: list[Drain] = []
    for number in range(1, rounds + 1):
        # ABBA order: whichever runs first in a round (a colder cache) alternates.
        for condition in (None, hooks) if number % 2 else (hooks, None):
            drained = _drain(servers, workload, sizes.devices, expected, condition)
            (plain if condition is None else notified).append(drained)
        log.info(
            "round %d: %.0f msgs/s without channels, %.0f with 3 (%d changes)",
            number,
            plain[-1].msgs_s,
            notified[-1].msgs_s,
            notified[-1].changes,
        )
    ratios = [b.msgs_s / a.msgs_s for a, b in zip(plain, notified, strict=True)]
    latencies = [ms for d in notified for ms in d.latencies_ms]
    drains = plain + notified
    return {
        "ingest_messages": sizes.messages,
        "ingest_devices": sizes.devices,
        "ingest_rounds": rounds,
        "ingest_msgs_s_no_channel": [round(d.msgs_s) for d in plain],
        "ingest_msgs_s_3_channels": [round(d.msgs_s) for d in notified],
        "ingest_ratio": [round(r, 3) for r in ratios],
        "ingest_ratio_median": round(statistics.median(ratios), 3),
        "ingest_ratio_spread": round(max(ratios) - min(ratios), 3),
        "ingest_alert_changes_expected": expected,
        "ingest_alert_changes": [d.changes for d in drains],
        "ingest_latency_received": len(latencies),
        "ingest_latency_p50_ms": round(percentile(latencies, 50), 1),
        "ingest_latency_p99_ms": round(percentile(latencies, 99), 1),
        "ingest_latency_max_ms": round(max(latencies, default=float("nan")), 1),
        "ingest_lost": sum(d.lost for d in drains),
        "ingest_dup": sum(d.dup for d in drains),
    }


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _drain(
    servers: Stack, workload: Workload, devices: int, expected: int, hooks: list[Receiver] | None
) -> Drain:
    """Condition (a) when `hooks` is None, else (b) with those receivers."""
    name = f"notify_ingest_{uuid.uuid4().hex[:8]}"
    with fresh_database(servers.server_url, name) as url, ExitStack() as running:
        _register(url, devices, [h.url for h in hooks] if hooks else [])
        for hook in hooks or []:
            hook.got.clear()
        if hooks:
            env = {
                "TICKWIRE_DATABASE_URL": url,
                "TICKWIRE_DATA_DIR": str(servers.workdir),
                "TICKWIRE_WEBHOOK_ALLOW_PRIVATE": "true",
                "TICKWIRE_NOTIFY_TIMEOUT_S": "10",
            }
            running.enter_context(service("notify", env, servers.workdir / f"{name}-notify.log"))
        settings = IngestSettings()
        session = Session(
            servers.broker_url,
            f"bench-{name}",
            settings.ingest_receive_maximum,
            settings.ingest_session_expiry_s,
        )
        prime(session)
        publish(servers.broker_url, workload.messages)
        checkpoint(servers.server_url)
        running.enter_context(_environ("TICKWIRE_ALERTS_MAX_LAG_S", LAG_S))
        run = run_ingester(
            url,
            session.url,
            session.client_id,
            len(workload.keys),
            servers.workdir / f"{name}-ingest.log",
        )
        tally = tally_telemetry(url, workload.keys)
        changes = _changes(url)
        lost, dup, latencies = tally.lost, tally.dup, []
        if tally.lost or tally.dup or changes != expected:
            log.warning(
                "%s: telemetry lost %d, dup %d; %d alert changes of %d expected; the "
                "ingester's log ends:\n%s",
                name,
                tally.lost,
                tally.dup,
                changes,
                expected,
                _tail(servers.workdir / f"{name}-ingest.log"),
            )
        if hooks:
            answering = hooks[:2]
            _wait_delivered(answering, changes, url)
            for hook in answering:
                ids = _delivery_ids(hook)
                lost += max(0, changes - len(ids))
                dup += len(hook.got) - len(ids)
                latencies += _latencies(hook)
            lost += _unsent(url)
            if lost > tally.lost or dup > tally.dup:
                log.warning("%s: deliveries lost %d, dup %d", name, lost - tally.lost, dup)
    return Drain(len(workload.messages) / run.seconds, changes, lost, dup, latencies)


@contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    """`name` set for the children started meanwhile (the ingester takes the bench's
    environment under its own `TICKWIRE_*` settings)."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _register(url: str, devices: int, hook_urls: list[str]) -> None:
    user = uuid.uuid4()
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO users (id, email, hashed_password) VALUES (%s, 'bench@example.com', 'x')",
            (user,),
        )
        conn.execute(
            """INSERT INTO devices (device_id, name, owner_id)
               SELECT 'hot-' || lpad(n::text, 4, '0'), 'hot', %s
               FROM generate_series(0, %s - 1) n""",
            (user, devices),
        )
        for hook_url in hook_urls:
            conn.execute(
                """INSERT INTO notification_channels (owner_id, name, kind, url, secret)
                   VALUES (%s, 'bench', 'webhook', %s, %s)""",
                (user, hook_url, SECRET),
            )


def _changes(url: str) -> int:
    """Alert changes in the database: every raise and every clear."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) + count(cleared_at) FROM alerts").fetchone()
    assert row is not None
    return int(row[0])


def _unsent(url: str) -> int:
    """Deliveries to the answering channels (the first two) not sent."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """SELECT count(*) FROM notification_deliveries
               WHERE status <> 'sent' AND channel_id IN (
                   SELECT id FROM notification_channels ORDER BY id LIMIT 2)"""
        ).fetchone()
    assert row is not None
    return int(row[0])


def _wait_delivered(hooks: list[Receiver], changes: int, url: str) -> None:
    """Wait (the notifier still running) until every hook got `changes` distinct deliveries
    and the notifier recorded them sent (it does so after the receiver's answer)."""

    async def done() -> bool:
        received = all(len(_delivery_ids(h)) >= changes for h in hooks)
        return received and _unsent(url) == 0

    try:
        asyncio.run(wait_until("every change at both answering receivers", done, 300))
    except AssertionError as failed:
        log.warning("%s", failed)  # counted as lost


def _delivery_ids(hook: Receiver) -> set[str]:
    wanted = DELIVERY_HEADER.lower()
    return {v for got in hook.got for k, v in got.headers.items() if k.lower() == wanted}


def _latencies(hook: Receiver) -> list[float]:
    return [ms for got in hook.got if (ms := change_latency_ms(got)) is not None]


def change_latency_ms(got: Received) -> float | None:
    """ms from the change's time in the database (in the webhook body) to its receipt
    (`Received.at` is monotonic: taken to the wall clock here)."""
    body = orjson.loads(got.body)
    alert = body["alert"]
    changed = alert["raised_at"] if body["event"] == "raised" else alert["cleared_at"]
    if changed is None:
        return None
    received = got.at + time.time() - time.monotonic()
    return (received - datetime.fromisoformat(changed).timestamp()) * 1000
