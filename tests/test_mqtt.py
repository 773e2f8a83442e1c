"""tickwire/mqtt.py, the one MQTT adapter: its failures are BrokerUnavailable or a failed probe."""

from __future__ import annotations

import pytest

from devstack.broker import Mosquitto
from devstack.ports import free_port
from tickwire import mqtt
from tickwire.settings import MqttAddress


async def test_probe_answers_ok_for_a_broker_and_says_why_not_without_one(
    broker: Mosquitto,
) -> None:
    assert await mqtt.probe(MqttAddress(broker.url)) == (True, "ok")
    ok, detail = await mqtt.probe(MqttAddress(f"mqtt://127.0.0.1:{free_port()}"), 1.0)
    assert not ok
    assert detail.startswith("ConnectionRefusedError")


async def test_connect_runs_off_the_loop_and_an_unreachable_broker_is_an_oserror() -> None:
    client = mqtt.new_client("tickwire-test-unreachable", protocol=311)
    with pytest.raises(OSError):
        await mqtt.connect(client, MqttAddress(f"mqtt://127.0.0.1:{free_port()}"))


async def test_publishing_while_not_connected_is_broker_unavailable() -> None:
    address = MqttAddress(f"mqtt://127.0.0.1:{free_port()}")
    client = mqtt.new_client("tickwire-test-offline", protocol=311)
    async with mqtt.on_thread(client, address):
        with pytest.raises(mqtt.BrokerUnavailable, match="not connected"):
            await mqtt.publish_acked(client, "devices/x/commands", "{}", timeout=0.5)
