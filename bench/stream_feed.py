"""The publishing side of bench.stream: the ingester as a child process, ticks at a paced rate."""

from __future__ import annotations

import multiprocessing
import random
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from tests.process_support import service
from tickwire import mqtt as adapter
from tickwire.settings import MqttAddress

TICKERS: Final = [f"BS{i:03d}" for i in range(100)]


def publish_at_rate(url: str, rate: int, seconds: float, done: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """In a process of its own: `rate` ticks a second for `seconds`, QoS 1; puts the count."""
    address = MqttAddress(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    adapter.connect_blocking(client, address)
    client.loop_start()
    rng, prices = random.Random(1), dict.fromkeys(TICKERS, 100.0)
    sent, started = 0, time.perf_counter()
    info = None
    while (elapsed := time.perf_counter() - started) < seconds:
        while sent < int(elapsed * rate):
            ticker = TICKERS[sent % len(TICKERS)]
            prices[ticker] *= 1 + rng.uniform(-0.001, 0.001)
            body = {"price": round(prices[ticker], 4), "ts": int(time.time() * 1000)}
            info = client.publish(f"stocks/{ticker}", orjson.dumps(body), qos=1)
            sent += 1
        time.sleep(0.002)
    if info is not None:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()
    done.put(sent)


@contextmanager
def ingester_process(database_url: str, broker_url: str, workdir: Path) -> Iterator[int]:
    """`python -m ingest` in a child process; yields its pid once it stores a probe tick."""
    env = dict(
        TICKWIRE_DATABASE_URL=database_url,
        TICKWIRE_MQTT_URL=broker_url,
        TICKWIRE_INGEST_CLIENT_ID=f"bench-stream-{uuid.uuid4().hex[:8]}",
        TICKWIRE_DATA_DIR=str(workdir / "ingest"),
        TICKWIRE_LOG_LEVEL="WARNING",
    )
    with service("ingest", env, workdir / "ingest.log") as child:
        _wait_for_probe(database_url, broker_url, child)
        yield child.pid


def _wait_for_probe(database_url: str, broker_url: str, child: subprocess.Popen[bytes]) -> None:
    address = MqttAddress(broker_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}")
    adapter.connect_blocking(client, address)
    client.loop_start()
    deadline = time.monotonic() + 60
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            while child.poll() is None and time.monotonic() < deadline:
                body = {"price": 1.0, "ts": int(time.time() * 1000)}
                client.publish("stocks/PROBE", orjson.dumps(body), qos=1).wait_for_publish(5)
                time.sleep(0.3)
                if conn.execute("SELECT 1 FROM prices WHERE ticker = 'PROBE'").fetchone():
                    return
    finally:
        client.disconnect()
        client.loop_stop()
    raise RuntimeError("the ingester stored nothing within 60 s (see ingest.log)")
