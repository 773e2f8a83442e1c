"""The HTTP side of one live stream: a raw ASGI response that writes a subscriber's frames.

`retry`, then the missed events (or a `reset`), then live frames: everything waiting is
written in one send (up to `SEND_BYTES`). An idle stream gets a keep-alive comment carrying
the resume point. The stream ends when the client leaves, or when the server drops it: its
buffer overflowed (hub), a send did not complete within `stream_stall_s`, or shutdown; a
final `dropped` event says why when it can still be written.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

import asyncpg
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from api.stream import backlog, frames
from api.stream.hub import Hub
from api.stream.subscriber import Subscriber

SEND_BYTES: Final = 256 * 1024
HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class Gone(Exception):
    """The client disconnected."""


class Stalled(Exception):
    """A send did not complete in time: the client stopped reading."""


class Writer:
    """Body chunks to the client, each within `stall_s`."""

    def __init__(self, send: Send, stall_s: float) -> None:
        self.send = send
        self.stall_s = stall_s
        self.gone = asyncio.Event()

    async def write(self, body: bytes, more: bool = True) -> None:
        if self.gone.is_set():
            raise Gone
        try:
            async with asyncio.timeout(self.stall_s):
                await self.send({"type": "http.response.body", "body": body, "more_body": more})
        except TimeoutError:
            raise Stalled from None

    async def watch(self, receive: Receive, wake: asyncio.Event) -> None:
        """Until the client disconnects (the request has no body to read); then `wake`."""
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone.set()
        wake.set()


class StreamResponse(Response):
    """`text/event-stream` for `sub`, resuming after `last_id` when given."""

    media_type = "text/event-stream"

    def __init__(self, hub: Hub, pool: asyncpg.Pool, sub: Subscriber, last_id: int | None):
        self.status_code = 200
        self.background = None
        self.init_headers(HEADERS)
        self.hub, self.pool, self.sub, self.last_id = hub, pool, sub, last_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        position = self.hub.subscribe(self.sub)
        writer = Writer(send, self.hub.settings.stream_stall_s)
        watcher = asyncio.create_task(writer.watch(receive, self.sub.wake))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await writer.write(frames.opening(self.hub.settings.stream_retry_ms))
            await self._start(writer, position)
            await self._live(writer)
        except Gone:
            pass
        except Stalled:
            self.hub.drop(self.sub, "stalled")  # unfinished: uvicorn closes the connection
        finally:
            watcher.cancel()
            self.hub.unsubscribe(self.sub)

    async def _start(self, writer: Writer, position: int) -> None:
        """The missed events, or the resume point for a client that has none yet."""
        if self.last_id is None:
            await writer.write(frames.cursor(position))
            return
        pages = backlog.missed(self.pool, self.sub, self.last_id, position)
        async for chunk in pages:
            await writer.write(chunk)

    async def _live(self, writer: Writer) -> None:
        sub, keep_alive = self.sub, self.hub.settings.stream_keepalive_s
        while not writer.gone.is_set():
            idle = not sub.wake.is_set() and not await _wait(sub.wake, keep_alive)
            taken = sub.take(SEND_BYTES)
            if sub.dropped is not None:
                await writer.write(b"".join(taken) + frames.dropped(sub.dropped))
                await writer.write(b"", more=False)
                return
            if taken:
                await writer.write(b"".join(taken))
            elif idle:
                point = max(self.hub.position, sub.after)
                await writer.write(frames.cursor(point, frames.KEEP_ALIVE))


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    """Whether `event` was set within `timeout` seconds."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
    return event.is_set()
