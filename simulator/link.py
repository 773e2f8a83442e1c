"""One MQTT connection per device (client id = device id), driven by paho's own thread.

The paho thread only counts acknowledgements and hands commands to the asyncio loop;
every decision is taken on the loop. paho reconnects by itself, and keeps QoS 1 messages
published while disconnected until they are acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tickwire.contract import commands_topic
from tickwire.settings import MqttAddress

log = logging.getLogger("simulator.link")

#: Called on the asyncio loop with the device's link and the payload of each command.
CommandHandler = Callable[["Link", bytes], None]


class Link:
    """A device's connection; `publish()` is called from the asyncio thread only."""

    def __init__(
        self,
        address: MqttAddress,
        device_id: str,
        qos: int,
        loop: asyncio.AbstractEventLoop,
        on_command: CommandHandler,
    ) -> None:
        self.address = address
        self.device_id = device_id
        self.qos = qos
        self.connected = threading.Event()
        self.published = 0
        self.confirmed = 0
        """Incremented on the paho thread only, when the broker acknowledged a message."""
        self._loop = loop
        self._on_command = on_command
        self._stopping = False
        self._was_connected = False
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id)
        if address.username:
            self._client.username_pw_set(address.username, address.password)
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(1, 10)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish

    @property
    def unconfirmed(self) -> int:
        return self.published - self.confirmed

    def start(self) -> None:
        self._client.connect_async(self.address.host, self.address.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: dict[str, Any]) -> bool:
        info = self._client.publish(topic, json.dumps(payload), qos=self.qos)
        # QoS 1/2: NO_CONN means queued until the next connection; QoS 0: lost.
        accepted = info.rc == mqtt.MQTT_ERR_SUCCESS or (
            self.qos > 0 and info.rc == mqtt.MQTT_ERR_NO_CONN
        )
        if accepted:
            self.published += 1
        return accepted

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("%s: broker refused the connection: %s", self.device_id, reason)
            return
        client.subscribe(commands_topic(self.device_id), qos=1)
        self.connected.set()
        if self._was_connected:
            log.info("%s reconnected to %r", self.device_id, self.address)
        self._was_connected = True

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        if not self._stopping:
            log.warning("%s disconnected (%s); reconnecting", self.device_id, reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody left to answer
            self._loop.call_soon_threadsafe(self._on_command, self, bytes(message.payload))

    def _on_publish(self, _c: mqtt.Client, _u: Any, _mid: int, _r: Any, _p: Any) -> None:
        self.confirmed += 1


@contextlib.asynccontextmanager
async def open_links(
    address: MqttAddress,
    device_ids: Iterable[str],
    qos: int,
    on_command: CommandHandler,
    timeout_s: float = 10.0,
) -> AsyncIterator[dict[str, Link]]:
    """Connect every device; on exit wait (up to `timeout_s`) for acknowledgements, then close.

    The block starts once all are connected or `timeout_s` passed: those not connected yet
    keep trying, and their QoS 1 messages wait in their queue.
    """
    loop = asyncio.get_running_loop()
    links = {device_id: Link(address, device_id, qos, loop, on_command) for device_id in device_ids}
    try:
        for link in links.values():
            link.start()
        connected = await _wait(
            lambda: all(x.connected.is_set() for x in links.values()), timeout_s
        )
        count = sum(x.connected.is_set() for x in links.values())
        if connected:
            log.info("%d devices connected to %r", count, address)
        else:
            log.warning("%d of %d devices connected to %r; retrying", count, len(links), address)
        yield links
    finally:
        await _wait(lambda: all(x.unconfirmed == 0 for x in links.values()), timeout_s)
        await asyncio.to_thread(_stop_all, links.values())


async def _wait(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def _stop_all(links: Iterable[Link]) -> None:
    for link in links:
        link.stop()
