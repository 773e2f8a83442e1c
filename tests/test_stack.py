"""The embedded broker of `make up` refuses a taken port with a message that says what to do."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devstack.broker import Mosquitto, embedded_broker
from devstack.ports import free_port, port_free
from tickwire.settings import MqttAddress


@pytest.mark.parametrize("taken", ["plain", "tls"])
async def test_taken_port_is_refused_clearly(tmp_path: Path, taken: str) -> None:
    port, tls_port = free_port(), free_port()
    squatted = port if taken == "plain" else tls_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", squatted))
        squatter.listen()
        assert not port_free(squatted)
        with pytest.raises(RuntimeError, match=f"127.0.0.1:{squatted} is taken.*TICKWIRE_MQTT_URL"):
            async with embedded_broker(tmp_path / "broker", port, tls_port=tls_port):
                pass
    assert port_free(squatted)


async def test_embedded_broker_runs_on_a_free_port(tmp_path: Path) -> None:
    port = free_port()
    async with embedded_broker(tmp_path / "broker", port, tls_port=free_port()) as broker:
        assert broker.url == f"mqtt://127.0.0.1:{port}" and broker.kind in ("mosquitto", "amqtt")
        assert not port_free(port)


def test_broker_urls_carry_any_password() -> None:
    """A password with URL delimiters survives `url_for` → `MqttAddress` unchanged."""
    password = "p@ss:w/rd%?#"
    url = Mosquitto(Path("/nonexistent"), 1884).url_for("dev-1", password)
    address = MqttAddress(url)
    assert (address.username, address.password, address.host, address.port) == (
        "dev-1",
        password,
        "127.0.0.1",
        1884,
    )
