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

from tickwire import mqtt as adapter
from tickwire.settings import MqttAddress

log = logging.getLogger("api.publisher")


class Publisher:
    def __init__(self, client: mqtt.Client) -> None:
        self._client = client

    async def publish(self, topic: str, body: dict[str, Any], timeout: float = 5.0) -> None:
        """Publish with QoS 1; return once the broker acknowledged it (else BrokerUnavailable)."""
        payload = json.dumps(body, separators=(",", ":"))
        await adapter.publish_acked(self._client, topic, payload, timeout)


@contextlib.asynccontextmanager
async def connected(address: MqttAddress) -> AsyncIterator[Publisher]:
    """A paho client on its own thread, reconnecting by itself; the API starts without a broker."""
    client = adapter.new_client(
        f"tickwire-api-{secrets.token_hex(4)}",
        protocol=311,
        username=address.username,
        password=address.password,
    )
    async with adapter.on_thread(client, address):
        for _ in range(60):  # give the first connection a moment; go on without it after 3 s
            if client.is_connected():
                break
            await asyncio.sleep(0.05)
        else:
            log.warning("broker %r not reachable yet: commands fail with 503 until it is", address)
        yield Publisher(client)
