"""Is the broker answering? An MQTT 3.1.1 CONNECT → CONNACK round trip, then DISCONNECT."""

from __future__ import annotations

import asyncio
import os

from tickwire.settings import MqttAddress


def _string(value: str) -> bytes:
    data = value.encode()
    return len(data).to_bytes(2, "big") + data


def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def connect_packet(address: MqttAddress, client_id: str) -> bytes:
    flags = 0x02  # clean session
    payload = _string(client_id)
    if address.username:
        flags |= 0x80
        payload += _string(address.username)
        if address.password is not None:
            flags |= 0x40
            payload += _string(address.password)
    variable = _string("MQTT") + bytes([4, flags]) + (10).to_bytes(2, "big")
    body = variable + payload
    return bytes([0x10]) + _remaining_length(len(body)) + body


async def broker_answers(address: MqttAddress, timeout: float = 2.0) -> tuple[bool, str]:
    """(ok, detail): ok when the broker accepted a connection."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address.host, address.port)
            try:
                writer.write(connect_packet(address, f"tickwire-health-{os.urandom(4).hex()}"))
                await writer.drain()
                connack = await reader.readexactly(4)
                writer.write(b"\xe0\x00")
                await writer.drain()
            finally:
                writer.close()
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    if connack[0] != 0x20 or connack[3] != 0:
        return False, f"connection refused (return code {connack[3]})"
    return True, "ok"
