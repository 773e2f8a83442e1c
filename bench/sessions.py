"""Persistent MQTT v5 sessions of the bench's consumers, set up as the ingester's own.

A consumer's session is created (subscribed to the ingester's topics) before anything is
published, then left: the broker queues every QoS 1 message for it until it comes back.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tickwire import mqtt as adapter
from tickwire.contract import SUBSCRIPTIONS
from tickwire.settings import MqttAddress


@dataclass(frozen=True, slots=True)
class Session:
    """Where and as whom a consumer connects; the flow control is the ingester's."""

    url: str
    client_id: str
    receive_maximum: int
    expiry_s: int
    ca_file: Path | None = None
    """The CA of an `mqtts://` url's broker certificate."""

    @property
    def address(self) -> MqttAddress:
        return MqttAddress(self.url, self.ca_file)


def consumer_client(session: Session) -> mqtt.Client:
    """A paho v5 client with manual acks that re-subscribes on connect, like the ingester."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=session.client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )
    address = session.address
    if address.username:
        client.username_pw_set(address.username, address.password)
    return client


def connect(client: mqtt.Client, session: Session, clean_start: bool = False) -> None:
    """Connect (blocking) with the session's expiry and receive maximum; start the loop."""
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = session.expiry_s
    properties.ReceiveMaximum = session.receive_maximum
    adapter.connect_blocking(
        client, session.address, keepalive=30, clean_start=clean_start, properties=properties
    )
    client.loop_start()


def subscribe_on_connect(
    client: mqtt.Client, subscribed: threading.Event, topics: tuple[str, ...] = SUBSCRIPTIONS
) -> None:
    def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            c.subscribe([(topic, 1) for topic in topics])

    def on_subscribe(_c: mqtt.Client, _u: Any, _m: int, codes: Any, _p: Any) -> None:
        if not any(code.is_failure for code in codes):
            subscribed.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe


def prime(session: Session, timeout: float = 10.0, topics: tuple[str, ...] = SUBSCRIPTIONS) -> None:
    """Create the session afresh, subscribed to the ingester's topics (`topics`: those of a
    share group), and leave it."""
    client = consumer_client(session)
    subscribed = threading.Event()
    subscribe_on_connect(client, subscribed, topics)
    connect(client, session, clean_start=True)
    try:
        if not subscribed.wait(timeout):
            raise TimeoutError(f"{session.client_id} was not subscribed within {timeout}s")
    finally:
        client.disconnect()
        client.loop_stop()
