"""The API's MQTT connection: publishes device commands (QoS 1) and waits for the broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tickwire.settings import MqttAddress

log = logging.getLogger("api.publisher")


class BrokerUnavailable(Exception):
    """The broker did not take the message (down, or too slow to acknowledge)."""


class Publisher:
    def __init__(self, client: mqtt.Client) -> None:
        self._client = client

    async def publish(self, topic: str, body: dict[str, Any], timeout: float = 5.0) -> None:
        """Publish with QoS 1; return once the broker acknowledged it."""
        if not self._client.is_connected():
            # Refuse rather than let paho queue it for later: the caller is told it failed.
            raise BrokerUnavailable("not connected to the broker")
        info = self._client.publish(topic, json.dumps(body, separators=(",", ":")), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise BrokerUnavailable(mqtt.error_string(info.rc))
        try:
            await asyncio.to_thread(info.wait_for_publish, timeout)
        except (RuntimeError, ValueError) as exc:
            raise BrokerUnavailable(str(exc)) from None
        if not info.is_published():
            raise BrokerUnavailable(f"no acknowledgement from the broker within {timeout:g}s")


@contextlib.asynccontextmanager
async def connected(address: MqttAddress) -> AsyncIterator[Publisher]:
    """A paho client on its own thread, reconnecting by itself; the API starts without a broker."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"tickwire-api-{secrets.token_hex(4)}"
    )
    if address.username:
        client.username_pw_set(address.username, address.password)
    client.reconnect_delay_set(1, 10)
    client.connect_async(address.host, address.port, keepalive=30)
    client.loop_start()
    for _ in range(60):  # give the first connection a moment; go on without it after 3 s
        if client.is_connected():
            break
        await asyncio.sleep(0.05)
    else:
        log.warning("broker %r not reachable yet: commands fail with 503 until it is", address)
    try:
        yield Publisher(client)
    finally:
        client.disconnect()
        client.loop_stop()
