"""Small asyncio pieces the services share: waiting on several events, and how many bytes a
socket holds (paho reads packet by packet, never ahead, so a loop driving it asks)."""

from __future__ import annotations

import asyncio
import fcntl
import ssl
import struct
import termios
from typing import Any


async def wait_any(events: list[asyncio.Event], timeout: float | None) -> None:
    """Return when any event is set or `timeout` (None: no limit) passed."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def bytes_waiting(sock: Any) -> int:
    """Bytes readable from `sock` without blocking (0 when it cannot be asked): the kernel's,
    plus those a TLS socket has already decrypted (`tls_buffered`)."""
    try:
        kernel = int(struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0])
    except OSError:
        kernel = 0
    return kernel + tls_buffered(sock)


def tls_buffered(sock: Any) -> int:
    """Bytes a TLS socket decrypted and holds: no reader callback fires for them (the kernel
    has handed them over), so a loop that stops reading while some are left calls itself."""
    if isinstance(sock, ssl.SSLSocket):
        try:
            return sock.pending()
        except (OSError, ValueError):  # closed meanwhile
            return 0
    return 0
