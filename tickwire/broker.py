"""The embedded default broker: Mosquitto when installed, else amqtt (pure Python) in-process.

Mosquitto is configured for an ingester that acknowledges late (after commit) and may be down
for a while: many QoS 1 messages in flight, a deep per-client queue, sessions kept on disk.
A user's own broker needs the same (see docs/broker.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

log = logging.getLogger("tickwire.broker")

MOSQUITTO_CONF = """\
# Written by tickwire on every start; edit tickwire/broker.py instead.
listener {port} {host}
allow_anonymous true
user root
persistence true
persistence_location {data}/
autosave_interval 5
persistent_client_expiration 7d
max_inflight_messages 0
max_queued_messages 2000000
max_queued_bytes 0
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
log_type notice
connection_messages false
"""


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


class Mosquitto:
    """A Mosquitto process on 127.0.0.1 with its config and persistence under `directory`."""

    def __init__(self, directory: Path, port: int, host: str = "127.0.0.1") -> None:
        self.directory = directory
        self.host = host
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        executable = mosquitto_path()
        if executable is None:
            raise FileNotFoundError("mosquitto is not installed")
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "mosquitto.conf"
        conf.write_text(MOSQUITTO_CONF.format(port=self.port, host=self.host, data=self.directory))
        log_file = (self.directory / "mosquitto.log").open("ab")
        # Its own session: Ctrl-C in the terminal must not stop the broker before the
        # ingester has committed and acknowledged its last batch; the supervisor stops it last.
        self.process = subprocess.Popen(
            [executable, "-c", str(conf)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.host, self.port, timeout, self.process)

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(10)
        self.process = None


def wait_for_port(
    host: str, port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def embedded_broker(directory: Path, port: int = 1883) -> AsyncIterator[tuple[str, str]]:
    """Run the embedded broker; yield (url, kind) where kind is 'mosquitto' or 'amqtt'."""
    if not port_free(port):
        raise RuntimeError(
            f"127.0.0.1:{port} is taken (a system Mosquitto service? `systemctl disable --now "
            "mosquitto`): free it, or point TICKWIRE_MQTT_URL at that broker (see README for "
            "the settings the ingester needs)"
        )
    if mosquitto_path():
        broker = Mosquitto(directory, port)
        await asyncio.to_thread(broker.start)
        log.info("Mosquitto listening on %s", broker.url)
        try:
            yield broker.url, "mosquitto"
        finally:
            await asyncio.to_thread(broker.stop)
        return
    async with _amqtt(port) as url:
        log.warning("mosquitto not installed: using the slower pure-Python amqtt on %s", url)
        yield url, "amqtt"


@contextlib.asynccontextmanager
async def _amqtt(port: int) -> AsyncIterator[str]:
    from amqtt.broker import Broker  # only when Mosquitto is missing

    config: dict[str, Any] = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    try:
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        await broker.shutdown()
