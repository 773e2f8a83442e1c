"""A device publishing telemetry steadily (its client id is its device id, as the broker
requires of device accounts) with QoS 1, counting what the broker acknowledged.

paho keeps reconnecting while the broker is away and resends every unacknowledged message on
reconnect, as a real device with a persistent session does; so after any fault, every reading
the broker acknowledged must be in the database exactly once.
"""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tickwire.settings import MqttAddress

#: Message ids are 16-bit: past this many, one would be taken for another's acknowledgement.
MAX_MESSAGES = 60_000


class SteadyDevice:
    """`devices/{device_id}/telemetry` at `rate` messages/s, one `temperature` reading each with
    its own `ts` (ms, increasing from `first_ts`), until `stop()`."""

    def __init__(self, url: str, device_id: str, first_ts: int, rate: float = 50.0) -> None:
        address = MqttAddress(url)
        self.device_id = device_id
        self.topic = f"devices/{device_id}/telemetry"
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=device_id, clean_session=False
        )
        if address.username:
            self._client.username_pw_set(address.username, address.password)
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(1, 2)
        self._address = address
        self._interval = 1 / rate
        self._next_ts = first_ts
        self._sent: list[tuple[int, int]] = []  # (ts, mid)
        self._acked_mids: set[int] = set()
        self._client.on_publish = lambda _c, _u, mid, _rc, _p: self._acked_mids.add(mid)
        self._running = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steady-device", daemon=True)

    def start(self) -> None:
        self._client.connect_async(self._address.host, self._address.port, keepalive=5)
        self._client.loop_start()
        self._running.set()
        self._thread.start()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def published(self) -> list[int]:
        return [ts for ts, _ in list(self._sent)]

    @property
    def acked(self) -> set[int]:
        """The `ts` of every reading the broker acknowledged (PUBACK)."""
        acked = self._acked_mids
        return {ts for ts, mid in list(self._sent) if mid in acked}

    def unacknowledged(self) -> int:
        return len(self._sent) - len(self.acked)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop publishing, wait (up to `timeout`) for the outstanding acknowledgements."""
        self._stopped.set()
        self._running.set()
        self._thread.join()
        deadline = time.monotonic() + timeout
        while self.unacknowledged() and time.monotonic() < deadline:
            time.sleep(0.1)
        self._client.disconnect()
        self._client.loop_stop()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._running.wait()
            if self._stopped.is_set():
                return
            if len(self._sent) >= MAX_MESSAGES:
                return
            ts = self._next_ts
            self._next_ts += 1
            payload = json.dumps({"ts": ts, "temperature": 20 + ts % 7})
            self._sent.append((ts, self._client.publish(self.topic, payload, qos=1).mid))
            time.sleep(self._interval)
