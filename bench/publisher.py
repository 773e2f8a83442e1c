"""Publishing a backlog: QoS 1, waiting until the broker has acknowledged every message."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.workload import Message
from tickwire import mqtt as adapter
from tickwire.settings import MqttAddress

MAX_UNACKED: Final = 20_000
"""Messages handed to paho and not yet acknowledged by the broker, at most: publishing waits
for room rather than queueing a whole backlog inside paho at once (a 500 000-message call
was seen to stall waiting for PUBACKs)."""


def publish(
    url: str, messages: Sequence[Message], timeout: float = 300.0, ca_file: Path | None = None
) -> float:
    """Publish every message with QoS 1; return the seconds until the last PUBACK.
    (`ca_file`: the CA of an `mqtts://` url's broker certificate.)"""
    address = MqttAddress(url, ca_file)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}")
    if address.username:
        client.username_pw_set(address.username, address.password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    acked = 0
    done = threading.Event()
    room = threading.Semaphore(MAX_UNACKED)

    def on_publish(_c: mqtt.Client, _u: Any, _mid: int, _rc: Any, _p: Any) -> None:
        nonlocal acked
        acked += 1
        room.release()
        if acked == len(messages):
            done.set()

    client.on_publish = on_publish
    adapter.connect_blocking(client, address)
    client.loop_start()
    started = time.perf_counter()
    try:
        for topic, payload in messages:
            if not room.acquire(timeout=timeout):
                raise TimeoutError(f"broker acknowledged {acked} of {len(messages)}: stalled")
            client.publish(topic, payload, qos=1)
        if messages and not done.wait(timeout):
            raise TimeoutError(f"broker acknowledged {acked} of {len(messages)} in {timeout}s")
        return time.perf_counter() - started
    finally:
        client.disconnect()
        client.loop_stop()
