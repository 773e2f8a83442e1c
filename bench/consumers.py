"""What tickwire is compared with: a bare paho subscriber (the ceiling) and seed-style ingest.

Both connect to a primed session (see `bench.sessions`) with the ingester's receive maximum and
acknowledge each message themselves, the bare one right on receipt, the seed-style one after
its INSERT committed.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as mqtt
import psycopg

from bench.sessions import Session, connect, consumer_client, subscribe_on_connect
from tickwire.contract import EPOCH, RESERVED_TELEMETRY_KEYS

Handler = Callable[[mqtt.MQTTMessage], None]

_INSERT: Final = "INSERT INTO telemetry (time, device_id, metric, value) VALUES "
MQTTJS: Final = Path(__file__).parent / "mqttjs"
"""A bare mqtt.js subscriber (`npm ci --prefix bench/mqttjs`, `make bench-deps`)."""


@dataclass(frozen=True, slots=True)
class Drained:
    """A consumer's run: wall-clock start (before CONNECT) and end, and what it received."""

    started: float
    finished: float
    expected: int
    received: int
    distinct: int

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    @property
    def lost(self) -> int:
        return self.expected - self.distinct

    @property
    def dup(self) -> int:
        return self.received - self.distinct


def drain(
    session: Session, expected: int, handle: Handler | None = None, stall_s: float = 15.0
) -> Drained:
    """Take messages from the session until `expected` distinct ones came (or none for
    `stall_s`), passing each to `handle` before acknowledging it."""
    client = consumer_client(session)
    subscribe_on_connect(client, threading.Event())
    seen: set[bytes] = set()
    received = 0
    finished = 0.0
    done = threading.Event()

    def on_message(c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        nonlocal received, finished
        if handle is not None:
            handle(message)
        c.ack(message.mid, message.qos)
        received += 1
        seen.add(bytes(message.payload))
        if len(seen) == expected:
            finished = time.time()
            done.set()

    client.on_message = on_message
    started = time.time()
    connect(client, session)
    try:
        progress = -1
        while not done.wait(stall_s) and received != progress:
            progress = received
    finally:
        client.disconnect()
        client.loop_stop()
    return Drained(started, finished or time.time(), expected, received, len(seen))


def seed_style(conn: psycopg.Connection[Any]) -> Handler:
    """One INSERT of a message's readings and one commit, per message."""

    def handle(message: mqtt.MQTTMessage) -> None:
        body = json.loads(message.payload)
        device_id = message.topic.split("/")[1]
        ts = EPOCH + timedelta(milliseconds=body["ts"])
        params: list[Any] = []
        for key, value in body.items():
            if key in RESERVED_TELEMETRY_KEYS or isinstance(value, bool):
                continue
            if isinstance(value, (int, float)) and math.isfinite(value):
                params += (ts, device_id, key, float(value))
        values = ",".join(["(%s, %s, %s, %s)"] * (len(params) // 4))
        conn.execute(_INSERT + values + " ON CONFLICT DO NOTHING", params)
        conn.commit()

    return handle


def mqttjs_ready() -> bool:
    """Whether node and the mqtt.js subscriber's packages are installed."""
    return shutil.which("node") is not None and (MQTTJS / "node_modules" / "mqtt").is_dir()


def drain_mqttjs(session: Session, expected: int, stall_s: float = 15.0) -> Drained:
    """`drain` by a bare mqtt.js subscriber in node (bench/mqttjs/drain.mjs): the same primed
    session, receive maximum and acknowledgement on receipt, in the language whose MQTT client
    the issue measured as the wire's ceiling."""
    address = session.address
    if address.username or address.tls:
        raise ValueError("the mqtt.js ceiling runs on the plain, anonymous listener only")
    url = f"mqtt://{address.host}:{address.port}"
    args = [str(session.receive_maximum), str(session.expiry_s), str(expected), str(stall_s)]
    answer = subprocess.run(
        ["node", str(MQTTJS / "drain.mjs"), url, session.client_id, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=stall_s + 600,
    )
    if not answer.stdout.strip():
        raise RuntimeError(f"mqtt.js subscriber failed: {answer.stderr[-2000:]}")
    got = json.loads(answer.stdout.strip().splitlines()[-1])
    return Drained(got["started"], got["finished"], expected, got["received"], got["distinct"])
