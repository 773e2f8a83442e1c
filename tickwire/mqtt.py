"""The one MQTT adapter: every paho client of tickwire is made, connected and driven here.

paho is used two ways, neither blocking the event loop (paho's `connect()` resolves the name,
opens TCP and writes CONNECT: it runs in the loop's executor, as aiomqtt does):

- **on the loop** (the ingester's subscriber, the simulator's device links): `connect()` off the
  loop, then the caller serves the socket with `add_reader` / `add_writer` and paho's
  `loop_read` / `loop_write` / `loop_misc`, so callbacks run on the loop's thread;
- **on paho's thread** (`on_thread`: the API's command publisher, the broker admin): paho
  connects and reconnects by itself; callbacks run on its thread and hand results to the loop.

`probe()` is the health check's CONNECT → CONNACK round trip. Every failure to reach the broker
or to have it acknowledge in time is `BrokerUnavailable`.

An `mqtts://` address is reached over TLS (`tls_context`): every way of connecting here
(`connect`, `connect_blocking`, `on_thread`, `probe`) sets it on the client first. A certificate
that does not chain to the CA file or does not name the host fails the connection with
`ssl.SSLCertVerificationError`, an OSError like any other unreachable broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import ssl
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tickwire.settings import MqttAddress

#: The socket callbacks paho calls from wherever it runs (the executor, during `connect`).
_SOCKET_CALLBACKS = (
    "on_socket_open",
    "on_socket_close",
    "on_socket_register_write",
    "on_socket_unregister_write",
)


#: Clients whose TLS context is set (paho refuses to set it twice; a client may reconnect).
_SECURED: weakref.WeakSet[mqtt.Client] = weakref.WeakSet()


class BrokerUnavailable(Exception):
    """The broker is not reachable, refused the connection, or did not acknowledge in time."""


def new_client(
    client_id: str,
    *,
    protocol: int = 5,
    persistent: bool = False,
    manual_ack: bool = False,
    username: str | None = None,
    password: str | None = None,
) -> mqtt.Client:
    """A paho client (callback API 2). `protocol`: 5 or 311; `persistent`: a 3.1.1 session the
    broker keeps (clean_session=False; MQTT 5 asks for it at `connect` with clean_start)."""
    v5 = protocol == 5
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else not persistent,
        manual_ack=manual_ack,
    )
    if username:
        client.username_pw_set(username, password)
    return client


@functools.cache
def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Client TLS (1.2 at least): the broker's certificate must chain to `ca_file` (else to the
    system's CAs) and name the host connected to."""
    return ssl.create_default_context(cafile=ca_file)


def _secure(client: mqtt.Client, address: MqttAddress) -> None:
    if address.tls and client not in _SECURED:
        ca_file = None if address.ca_file is None else str(address.ca_file)
        client.tls_set_context(tls_context(ca_file))
        _SECURED.add(client)


def connect_blocking(
    client: mqtt.Client, address: MqttAddress, keepalive: int = 60, **options: Any
) -> None:
    """paho's blocking `connect` (resolve, TCP, TLS handshake, CONNECT), TLS set as `address`
    says: for threads and tools that drive the client with `loop` / `loop_start`."""
    _secure(client, address)
    client.connect(address.host, address.port, keepalive, **options)


async def connect(
    client: mqtt.Client, address: MqttAddress, keepalive: int = 30, **options: Any
) -> socket.socket:
    """Connect in the loop's executor; return the socket for the loop to serve.

    The socket callbacks are unset while paho connects (they would run on the executor's
    thread): set them afterwards. Raises OSError when the broker cannot be reached.
    """
    for name in _SOCKET_CALLBACKS:
        setattr(client, name, None)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(
        None, functools.partial(connect_blocking, client, address, keepalive, **options)
    )
    sock = client.socket()
    if not isinstance(sock, socket.socket):
        raise OSError("connection closed while opening")
    return sock


def forget(loop: asyncio.AbstractEventLoop, sock: Any) -> None:
    """Stop serving a socket on the loop (whether or not it was)."""
    with contextlib.suppress(ValueError, OSError):
        loop.remove_reader(sock)
    with contextlib.suppress(ValueError, OSError):
        loop.remove_writer(sock)


@contextlib.asynccontextmanager
async def on_thread(
    client: mqtt.Client, address: MqttAddress, keepalive: int = 30
) -> AsyncIterator[mqtt.Client]:
    """Run `client` on paho's own thread, reconnecting by itself (back-off 1 s to 10 s), until
    the block ends; yields at once, connected or not (the caller waits as long as it likes)."""
    client.reconnect_delay_set(1, 10)
    _secure(client, address)
    client.connect_async(address.host, address.port, keepalive=keepalive)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def queued(info: mqtt.MQTTMessageInfo) -> mqtt.MQTTMessageInfo:
    """`info` of a publish paho took; BrokerUnavailable when it did not."""
    if info.rc != mqtt.MQTT_ERR_SUCCESS:
        raise BrokerUnavailable(mqtt.error_string(info.rc))
    return info


async def publish_acked(
    client: mqtt.Client, topic: str, payload: bytes | str, timeout: float = 5.0
) -> None:
    """Publish with QoS 1 on a client run `on_thread`; return once the broker acknowledged."""
    if not client.is_connected():
        # Refuse rather than let paho queue it for later: the caller is told it failed.
        raise BrokerUnavailable("not connected to the broker")
    info = queued(client.publish(topic, payload, qos=1))
    try:
        await asyncio.to_thread(info.wait_for_publish, timeout)
    except (RuntimeError, ValueError) as exc:
        raise BrokerUnavailable(str(exc)) from None
    if not info.is_published():
        raise BrokerUnavailable(f"no acknowledgement from the broker within {timeout:g}s")


async def probe(address: MqttAddress, timeout: float = 2.0) -> tuple[bool, str]:
    """(ok, detail): ok when the broker accepted an MQTT 3.1.1 connection (then DISCONNECT)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, _probe, address, timeout)


def _probe(address: MqttAddress, timeout: float) -> tuple[bool, str]:
    deadline = time.monotonic() + timeout
    client = new_client(
        f"tickwire-health-{os.urandom(4).hex()}",
        protocol=311,
        username=address.username,
        password=address.password,
    )
    client.connect_timeout = timeout
    answers: list[Any] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.append(reason)
    try:
        connect_blocking(client, address, keepalive=10)
        while not answers and time.monotonic() < deadline:
            if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                break
        client.disconnect()
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(OSError):
            client.loop_write()
    if not answers:
        return False, f"TimeoutError: no CONNACK within {timeout:g}s"
    if answers[0].is_failure:
        return False, f"connection refused (return code {answers[0].value})"
    return True, "ok"
