"""Raw server-sent event clients for bench.stream: many per process, cheap per event.

HTTP/1.1 over asyncio streams, the chunked body decoded by tests/chunked_support.py (uvicorn
chunks a stream even for an HTTP/1.0 request, whose chunk-size lines once hid events from a
client that did not expect them); each client records, per event frame, its id and the
wall-clock time its bytes arrived. What the events carried is looked up afterwards in the
journal, once for all clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from tests.chunked_support import Dechunker


@dataclass(eq=False)
class SseClient:
    """One open stream and the (event id, arrival time) of every event frame it received."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    chunked: bool = True
    arrivals: list[tuple[int, float]] = field(default_factory=list)
    target: int | None = None
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def last_id(self) -> int:
        return self.arrivals[-1][0] if self.arrivals else 0

    async def listen(self) -> None:
        """Until the server closes the stream (or the task is cancelled)."""
        pending = b""
        body = Dechunker() if self.chunked else None
        while chunk := await self.reader.read(1 << 16):
            now = time.time()
            if body is not None:
                chunk = body.feed(chunk)
            frames = (pending + chunk).split(b"\n\n")
            pending = frames.pop()
            for frame in frames:
                if frame.startswith(b"id: ") and b"\nevent: " in frame:
                    self.arrivals.append((int(frame[4 : frame.index(b"\n")]), now))
            if self.target is not None and self.last_id >= self.target:
                self.reached.set()

    async def reach(self, target: int) -> None:
        """Until an event with an id of at least `target` has arrived."""
        self.target = target
        if self.last_id < target:
            await self.reached.wait()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def connect(host: str, port: int, token: str, query: str = "") -> SseClient:
    """Open `GET /api/stream?query` and read past the response headers."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET /api/stream{'?' + query if query else ''} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    if status != b"200":
        writer.close()
        raise RuntimeError(f"the stream answered {head.decode(errors='replace')}")
    chunked = b"transfer-encoding: chunked" in head.lower()
    return SseClient(reader, writer, chunked)
