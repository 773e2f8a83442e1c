"""One MQTT connection per device (client id and username = device id), served by the loop.

No thread per device: paho's socket is driven by the asyncio loop (`add_reader`, `loop_read`,
`loop_write`, `loop_misc`: paho's external-loop interface, as ingest/subscriber.py uses), so
its callbacks run on the loop's thread. Only the blocking connect runs in the loop's executor
(tickwire/mqtt.py). Every connection gets a fresh paho client: nothing of an earlier connection
is resent by paho, what was not acknowledged is resent from the buffer instead (forward.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Any, Final, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from tickwire import mqtt as adapter
from tickwire.aio import bytes_waiting, tls_buffered, wait_any
from tickwire.contract import commands_topic
from tickwire.settings import MqttAddress

log = logging.getLogger("simulator.link")

#: CONNACK reason codes (MQTT 5; paho maps 3.1.1's 4 and 5 to them) that mean "wrong
#: credentials": worth new ones, not the same ones again.
_REFUSED: Final = frozenset({134, 135})
_KEEPALIVE_S: Final = 30
_READ_BURST: Final = 200


@dataclass(frozen=True, slots=True)
class Auth:
    username: str
    password: str | None


class Handler(Protocol):
    """What a link tells its device; called on the loop's thread."""

    def connected(self) -> None: ...

    def disconnected(self) -> None: ...

    def published(self, mid: int, ok: bool) -> None:
        """The broker acknowledged message `mid` (QoS 0: it was written); `ok`: not refused."""

    def command(self, payload: bytes) -> None: ...


class Reauth(Protocol):
    async def __call__(self, device_id: str) -> Auth | None:
        """New credentials for a device the broker refused; None: none to be had."""


class Link:
    """A device's connection; `run()` keeps it up until stopped."""

    def __init__(
        self,
        address: MqttAddress,
        device_id: str,
        auth: Auth | None,
        handler: Handler,
        protocol: int = 5,
        reauth: Reauth | None = None,
    ) -> None:
        self.address = address
        self.device_id = device_id
        self.auth = auth
        self.handler = handler
        self.protocol = protocol
        self.reauth = reauth
        self.connected = False
        self.ever_connected = False
        self._loop = asyncio.get_running_loop()
        self._client: mqtt.Client | None = None
        self._closed = asyncio.Event()
        self._refused = False
        self._was_up = False
        self._writing = False

    def publish(self, topic: str, payload: bytes, qos: int) -> int | None:
        """Hand a message to the connection; its mid, or None when not connected."""
        client = self._client
        if client is None or not self.connected:
            return None
        info = client.publish(topic, payload, qos=qos)
        self._flush(client)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return None
        return int(info.mid)

    def tick(self) -> None:
        """Keep-alive and time-outs: call about once a second."""
        if self._client is not None:
            self._client.loop_misc()

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, stay connected, reconnect with back-off (jittered) until `stop`."""
        delay = 0.5
        while not stop.is_set():
            self._closed.clear()
            self._refused = False
            try:
                await self._open()
            except (OSError, ValueError) as exc:
                log.debug("%s: cannot reach %r (%s)", self.device_id, self.address, exc)
            else:
                await wait_any([stop, self._closed], None)
                if stop.is_set():
                    break
            if self._was_up:
                delay = 0.5
            if self._refused and await self._new_credentials(stop):
                continue
            await wait_any([stop], delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 10.0)
        await self.close()

    async def close(self) -> None:
        """DISCONNECT politely (what is queued is written first)."""
        client = self._client
        if client is None:
            return
        client.disconnect()
        client.loop_write()
        self._drop(client)
        sock = client.socket()
        if sock is not None:  # paho did not close it (nothing was written)
            adapter.forget(self._loop, sock)
            with contextlib.suppress(OSError):
                sock.close()

    async def _open(self) -> None:
        client = self._new_client()
        self._client = client
        self._was_up = False
        try:
            sock = await adapter.connect(client, self.address, _KEEPALIVE_S)
        except BaseException:
            self._client = None
            raise
        if self._client is not client:
            raise OSError("connection closed while opening")
        client.on_socket_close = self._on_socket_close
        self._writing = False
        self._loop.add_reader(sock, self._readable, client)
        self._flush(client)

    async def _new_credentials(self, stop: asyncio.Event) -> bool:
        if self.reauth is None:
            log.error("%s: the broker refused its credentials; retrying in 30 s", self.device_id)
            await wait_any([stop], 30)
            return False
        auth = await self.reauth(self.device_id)
        if auth is None:
            return False
        self.auth = auth
        return True

    def _new_client(self) -> mqtt.Client:
        auth = self.auth
        client = adapter.new_client(
            self.device_id,
            protocol=self.protocol,
            username=auth.username if auth is not None else None,
            password=auth.password if auth is not None else None,
        )
        client.max_inflight_messages_set(0)  # the forwarder keeps its own window
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def _readable(self, client: mqtt.Client) -> None:
        for _ in range(_READ_BURST):
            if client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
            sock = client.socket()
            if sock is None or client is not self._client or not bytes_waiting(sock):
                break
        self._flush(client)  # what the callbacks published (acks, the next batch, …)
        sock = client.socket()
        if sock is not None and client is self._client and tls_buffered(sock):
            # Decrypted bytes left after the burst wake no reader: read them next turn.
            self._loop.call_soon(self._readable, client)

    def _flush(self, client: mqtt.Client) -> None:
        """Write what paho queued; watch for writability only while the socket is full.

        No `on_socket_register_write`: paho then writes at once when published to outside
        its callbacks, and queues what its callbacks publish for this flush.
        """
        if client.want_write():
            client.loop_write()
        sock = client.socket()
        if sock is not None and client.want_write() and not self._writing:
            self._writing = True
            self._loop.add_writer(sock, self._writable, client)

    def _writable(self, client: mqtt.Client) -> None:
        client.loop_write()
        sock = client.socket()
        if sock is not None and not client.want_write():
            self._writing = False
            self._loop.remove_writer(sock)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if client is not self._client:
            return
        if reason.is_failure:
            self._refused = reason.value in _REFUSED
            log.error("%s: broker refused the connection: %s", self.device_id, reason)
            return
        client.subscribe(commands_topic(self.device_id), qos=1)
        self.connected = self._was_up = True
        if self.ever_connected:
            log.debug("%s reconnected to %r", self.device_id, self.address)
        self.ever_connected = True
        self.handler.connected()

    def _on_disconnect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if client is not self._client:
            return
        log.debug("%s disconnected (%s)", self.device_id, reason)
        self._drop(client)

    def _on_message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        if client is self._client:
            self.handler.command(bytes(message.payload))

    def _on_publish(self, client: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        if client is self._client and self.connected:
            self.handler.published(mid, not reason.is_failure)

    def _on_socket_close(self, client: mqtt.Client, _u: Any, sock: Any) -> None:
        adapter.forget(self._loop, sock)
        self._drop(client)

    def _drop(self, client: mqtt.Client) -> None:
        """Forget the connection (paho closes its socket): the device buffers until the next."""
        if client is not self._client:
            return
        self._client = None
        was = self.connected
        self.connected = False
        self._closed.set()
        if was:
            self.handler.disconnected()
