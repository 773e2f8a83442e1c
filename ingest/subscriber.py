"""The MQTT side of the ingester: a paho client driven by the asyncio loop.

paho connects in the loop's executor, then its socket is served by the event loop
(`add_reader` / `add_writer`, as aiomqtt does; tickwire/mqtt.py), so its callbacks run in the
loop's thread and `on_message` only appends to the inbox: no second thread competing for the
GIL, no wake-up per message. A persistent session (MQTT 5
clean_start=False with a session expiry, or 3.1.1 clean_session=False) and manual acks: the
broker keeps every unacknowledged QoS 1 message and redelivers it after a crash or reconnect.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from tickwire import mqtt as adapter
from tickwire import mqtt_properties
from tickwire.aio import bytes_waiting, tls_buffered, wait_any
from tickwire.contract import SUBSCRIPTIONS
from tickwire.settings import MqttAddress

log = logging.getLogger("ingest.subscriber")

#: Packets read per readable event at most, so the writer's coroutines get their turn.
_READ_BURST = 2_000
#: A readable event that found fewer packets than this rests the reader this long, so the
#: next one reads what arrived meanwhile in one go: at a modest rate each message would
#: otherwise cost a wake-up of its own. Shorter than a batch's linger, so the added latency
#: is at most this.
_REST_BELOW = 64
_REST_S = 0.005


@dataclass(slots=True)
class Received:
    """One message as the subscriber queued it."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    generation: int
    received: float
    retain: bool = False
    """Set on a retained message the broker sent because of a subscription."""


class Subscriber:
    """Owns the paho client; `inbox` is the bounded queue the receiver drains."""

    def __init__(
        self,
        address: MqttAddress,
        client_id: str,
        receive_maximum: int,
        session_expiry_s: int,
        queue_max: int,
        protocol: int = 5,
        subscriptions: tuple[str, ...] = SUBSCRIPTIONS,
    ) -> None:
        mqtt_properties.lighten()  # a Properties per message: cheap ones (no effect otherwise)
        self._address = address
        self._queue_max = queue_max
        self._subscriptions = subscriptions
        self._v5 = protocol == 5
        self._loop = asyncio.get_running_loop()
        self._now = 0.0
        self._paused = False
        self._socket: socket.socket | None = None
        self.inbox: collections.deque[Received] = collections.deque()
        self.arrived = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.disconnected.set()
        self.generation = 0
        self._client = adapter.new_client(
            client_id,
            protocol=protocol,
            persistent=True,
            manual_ack=True,
            username=address.username,
            password=address.password,
        )
        if not self._v5:
            # 3.1.1 has no Receive Maximum: the broker's own in-flight limit applies.
            self._client.max_inflight_messages_set(receive_maximum)
        self._properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        self._properties.SessionExpiryInterval = session_expiry_s
        self._properties.ReceiveMaximum = receive_maximum
        # Retained messages are not data arriving now: MQTT 5 asks the broker not to send them
        # on subscribe; those a broker sends anyway (3.1.1) carry the retain flag and are
        # acknowledged without being ingested (`Batch.add`).
        self._options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
        self._install_callbacks()

    def _install_callbacks(self) -> None:
        client = self._client
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until `stop`: connect, keep alive, reconnect with back-off."""
        delay = 0.5
        while not stop.is_set():
            if self.disconnected.is_set():
                try:
                    await self._connect()
                    delay = 0.5
                except OSError as exc:
                    self.disconnected.set()  # still disconnected: try again after the delay
                    log.warning(
                        "cannot reach %r (%s); retrying in %.1fs", self._address, exc, delay
                    )
                    await wait_any([stop], delay)
                    delay = min(delay * 2, 10.0)
                    continue
            self._client.loop_misc()
            await wait_any([stop, self.disconnected], 1.0)

    async def _connect(self) -> None:
        self.disconnected.clear()
        # A new connection from here: acks of the previous one are skipped (`ack`), also while
        # paho connects on the executor's thread (no second thread writes to the client).
        self.generation += 1
        client = self._client
        if self._socket is not None:  # paho closes a socket left open: stop serving it first
            adapter.forget(self._loop, self._socket)
            self._socket = None
        if self._v5:
            options = {"clean_start": False, "properties": self._properties}
            sock = await adapter.connect(client, self._address, 30, **options)
        else:
            sock = await adapter.connect(client, self._address, 30)
        # Served by the loop from now on; the socket callbacks run on its thread.
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        self._socket = sock
        self._paused = False
        self._loop.add_reader(sock, self._readable)
        if client.want_write():
            self._loop.add_writer(sock, client.loop_write)

    def close(self) -> None:
        """Send what is queued (acks first), then DISCONNECT."""
        if self._socket is not None:
            self._client.loop_write()
            self._client.disconnect()
            self._client.loop_write()

    def ack(self, messages: list[Received]) -> int:
        """Acknowledge committed messages of the current connection; return how many."""
        acked = 0
        for message in messages:
            # Message ids of an earlier connection may have been reused: never ack those.
            if message.qos and message.generation == self.generation:
                self._client.ack(message.mid, message.qos)
                acked += 1
        return acked

    @property
    def oldest_received(self) -> float | None:
        """Receive time of the oldest queued message (None: the inbox is empty)."""
        return self.inbox[0].received if self.inbox else None

    def take(self, limit: int) -> list[Received]:
        """Up to `limit` queued messages, in order; resumes reading when room is made."""
        inbox = self.inbox
        taken = [inbox.popleft() for _ in range(min(limit, len(inbox)))]
        if self._paused and len(inbox) < self._queue_max // 2 and self._socket is not None:
            self._paused = False
            self._loop.add_reader(self._socket, self._readable)
            self._read_on_if_tls_holds_more()
        return taken

    def _readable(self) -> None:
        self._now = time.time()
        sock = self._socket
        inbox = self.inbox
        packets = 0
        while packets < _READ_BURST:
            packets += 1
            queued = len(inbox)
            if self._client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS or sock is None:
                break
            # paho reads one packet per call and never ahead: after a PUBLISH, read on; after
            # anything else (or nothing), ask the kernel whether more bytes are waiting.
            if self._socket is None or (len(inbox) == queued and bytes_waiting(sock) == 0):
                break
        if len(self.inbox) >= self._queue_max and self._socket is not None and not self._paused:
            # Back-pressure: stop reading until the receiver catches up.
            self._paused = True
            self._loop.remove_reader(self._socket)
        elif packets < _REST_BELOW and self._socket is not None and not self._paused:
            self._loop.remove_reader(self._socket)
            self._loop.call_later(_REST_S, self._rested, self._socket)
            return
        self._read_on_if_tls_holds_more()

    def _rested(self, sock: socket.socket) -> None:
        if sock is self._socket and not self._paused:
            self._loop.add_reader(sock, self._readable)
            self._read_on_if_tls_holds_more()

    def _read_on_if_tls_holds_more(self) -> None:
        """Bytes TLS already decrypted wake no reader: read them on the loop's next turn."""
        if not self._paused and self._socket is not None and tls_buffered(self._socket):
            self._loop.call_soon(self._readable)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.inbox.append(
            Received(
                message.topic,
                bytes(message.payload),
                message.qos,
                message.mid,
                self.generation,
                self._now,
                message.retain,
            )
        )
        self.arrived.set()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        if self._v5:
            client.subscribe([(topic, self._options) for topic in self._subscriptions])
        else:
            client.subscribe([(topic, 1) for topic in self._subscriptions])
        topics = ", ".join(self._subscriptions)
        log.info("connected to %r, subscribing to %s", self._address, topics)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _m: int, codes: Any, _p: Any) -> None:
        failed = [code for code in codes if code.is_failure]
        if failed:
            log.error("broker refused subscriptions: %s", failed)
        else:
            self.subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.subscribed.clear()
        self.disconnected.set()
        log.warning("disconnected from the broker (%s)", reason)

    def _on_socket_close(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        self._socket = None

    def _on_register_write(self, client: mqtt.Client, _u: Any, sock: Any) -> None:
        self._loop.add_writer(sock, client.loop_write)

    def _on_unregister_write(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        self._loop.remove_writer(sock)
