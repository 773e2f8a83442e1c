"""A device's MQTT 5 session for the broker-auth tests: connect, publish, subscribe, and see
what the broker answered (CONNACK, PUBACK and SUBACK reason codes, a DISCONNECT it sent)."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tickwire import mqtt as adapter
from tickwire.settings import MqttAddress


class DeviceLink:
    def __init__(
        self,
        url: str,
        username: str | None,
        password: str | None,
        client_id: str,
        ca_file: Path | None = None,
    ) -> None:
        """`ca_file`: the CA an `mqtts://` URL's broker certificate must chain to."""
        self.address = MqttAddress(url, ca_file)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connack: ReasonCode | None = None
        self.connected = threading.Event()
        self.dropped = threading.Event()
        self.drop_reason: ReasonCode | None = None
        self.messages: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._acks: dict[int, ReasonCode] = {}
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._answered = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def connect(self, timeout: float = 10) -> bool:
        """True when the broker accepted the login; no automatic reconnection afterwards."""
        adapter.connect_blocking(self.client, self.address, keepalive=10)
        self.client.loop_start()
        self.connected.wait(timeout)
        if self.connack is None or self.connack.is_failure:
            self.close()
            return False
        return True

    def publish(self, topic: str, body: dict[str, Any] | bytes, timeout: float = 10) -> ReasonCode:
        """Publish with QoS 1; the PUBACK's reason code (Not authorized when the ACL denies)."""
        payload = body if isinstance(body, bytes) else json.dumps(body)
        info = self.client.publish(topic, payload, qos=1)
        reason: ReasonCode = self._wait(self._acks, info.mid, timeout)
        return reason

    def subscribe(self, topic: str, timeout: float = 10) -> ReasonCode:
        _, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        codes: list[ReasonCode] = self._wait(self._subacks, mid, timeout)
        return codes[0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _wait(self, answers: dict[int, Any], mid: int, timeout: float) -> Any:
        with self._answered:
            if not self._answered.wait_for(lambda: mid in answers, timeout):
                raise TimeoutError(f"no answer from the broker for message {mid}")
            return answers.pop(mid)

    def _answer(self, answers: dict[int, Any], mid: int, value: Any) -> None:
        with self._answered:
            answers[mid] = value
            self._answered.notify_all()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connack = reason
        if reason.is_failure:
            client.disconnect()  # no automatic reconnection with a refused login
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self.connack is not None and not self.connack.is_failure:
            self.drop_reason = reason
            self.dropped.set()
            client.disconnect()

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        self._answer(self._acks, mid, reason)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, codes: Any, _p: Any) -> None:
        self._answer(self._subacks, mid, list(codes))

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.messages.put((message.topic, json.loads(message.payload)))
