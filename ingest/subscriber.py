"""The MQTT side of the ingester: a paho client whose thread only enqueues.

A persistent session (clean_start=False, session expiry) and manual acks: the broker keeps
every unacknowledged QoS 1 message and redelivers it after a crash or a reconnect.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.handoff import Handoff
from tickwire.contract import SUBSCRIPTIONS
from tickwire.settings import MqttAddress

log = logging.getLogger("ingest.subscriber")


@dataclass(slots=True)
class Received:
    """One message as the paho thread handed it over."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    generation: int
    received: float


class Subscriber:
    """Owns the paho client; `ack()` is safe from the asyncio thread."""

    def __init__(
        self,
        address: MqttAddress,
        client_id: str,
        handoff: Handoff[Received],
        receive_maximum: int,
        session_expiry_s: int,
        protocol: int = 5,
    ) -> None:
        self._address = address
        self._handoff = handoff
        self._lock = threading.Lock()
        self.generation = 0
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._v5 = protocol == 5
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if self._v5 else mqtt.MQTTv311,
            # MQTT 3.1.1 keeps the session with clean_session=False; 5 uses clean_start below.
            clean_session=None if self._v5 else False,
            manual_ack=True,
        )
        if not self._v5:
            # 3.1.1 has no Receive Maximum: paho's own in-flight cap is the only one we set.
            self._client.max_inflight_messages_set(receive_maximum)
        if address.username:
            self._client.username_pw_set(address.username, address.password)
        self._properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        self._properties.SessionExpiryInterval = session_expiry_s
        self._properties.ReceiveMaximum = receive_maximum
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._client.reconnect_delay_set(1, 5)

    def start(self) -> None:
        if self._v5:
            self._client.connect_async(
                self._address.host,
                self._address.port,
                keepalive=30,
                clean_start=False,
                properties=self._properties,
            )
        else:
            self._client.connect_async(self._address.host, self._address.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._handoff.closed = True
        self._client.disconnect()
        self._client.loop_stop()

    def ack(self, messages: list[Received]) -> int:
        """Acknowledge committed messages of the current connection; return how many."""
        acked = 0
        with self._lock:
            for message in messages:
                if message.qos and message.generation == self.generation:
                    self._client.ack(message.mid, message.qos)
                    acked += 1
        return acked

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        with self._lock:
            # Message ids of an earlier connection may be reused now: never ack those.
            self.generation += 1
        client.subscribe([(topic, 1) for topic in SUBSCRIPTIONS])
        self.connected.set()
        log.info("connected to %r, subscribed to %s", self._address, ", ".join(SUBSCRIPTIONS))

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _m: int, codes: Any, _p: Any) -> None:
        failed = [code for code in codes if code.is_failure]
        if failed:
            log.error("broker refused subscriptions: %s", failed)
        else:
            self.subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if not self._handoff.closed:
            log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self._handoff.put(
            Received(
                message.topic,
                bytes(message.payload),
                message.qos,
                message.mid,
                self.generation,
                time.time(),
            )
        )
