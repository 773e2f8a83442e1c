"""Local TCP ports of the stack: a free one, whether one is free, waiting for a listener."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from pathlib import Path


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


#: Where the kernel takes the local ports of outgoing connections (Linux's default range).
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
SERVER_PORTS = 10_000  # how many ports below that range a free one is picked from


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now for a server about to start. Picked below the kernel's ephemeral range:
    a port the kernel hands out (`bind(0)`) can be taken by any outgoing connection — a client
    of another broker, say — before the server binds it ("Address already in use")."""
    low = _ephemeral_low()
    for _ in range(1_000):
        port = random.randrange(max(1024, low - SERVER_PORTS), low)
        if port_free(port, host):
            return port
    with socket.socket() as probe:  # nothing free down there: the kernel's choice after all
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768
