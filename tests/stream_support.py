"""A server-sent event stream read as EventSource reads it, against a real uvicorn (httpx's
ASGI transport buffers whole bodies): `stream` opens GET /api/stream, `Reader` parses it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Frame:
    id: int | None = None
    event: str | None = None
    data: str | None = None
    retry: int | None = None
    comment: str | None = None

    def json(self) -> Any:
        assert self.data is not None
        return json.loads(self.data)


class Reader:
    """Frames of a server-sent event stream, parsed as EventSource does, by a task of its own
    (so that a read with a timeout never cuts a frame in two)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.last_id: int | None = None
        self._frames: asyncio.Queue[Frame | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._parse())

    async def _parse(self) -> None:
        frame = Frame()
        try:
            async for line in self.response.aiter_lines():
                if line:
                    _field(frame, line)
                elif frame != Frame():
                    self._frames.put_nowait(frame)
                    frame = Frame()
        finally:
            self._frames.put_nowait(None)

    async def frame(self, timeout: float = 10) -> Frame:
        frame = await asyncio.wait_for(self._frames.get(), timeout)
        if frame is None:
            raise EOFError("the stream ended")
        if frame.id is not None:
            self.last_id = frame.id
        return frame

    async def event(self, timeout: float = 10) -> Frame:
        """The next frame that is an event (not a comment or a bare id) within `timeout`."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.frame(timeout)
                if frame.event is not None:
                    return frame

    async def events_until(self, last_id: int, timeout: float = 10) -> list[Frame]:
        """Events up to and including the one with id `last_id`."""
        found: list[Frame] = []
        while not found or (found[-1].id or 0) < last_id:
            found.append(await self.event(timeout))
        return found

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self._task


def _field(frame: Frame, line: str) -> None:
    name, _, value = line.partition(":")
    value = value.removeprefix(" ")
    if name == "":
        frame.comment = value
    elif name == "id":
        frame.id = int(value)
    elif name == "event":
        frame.event = value
    elif name == "data":
        frame.data = value if frame.data is None else f"{frame.data}\n{value}"
    elif name == "retry":
        frame.retry = int(value)


@contextlib.asynccontextmanager
async def stream(
    url: str,
    headers: Mapping[str, str],
    params: dict[str, str] | None = None,
    last_id: int | None = None,
) -> AsyncIterator[Reader]:
    """GET /api/stream on the API at `url` with `headers` (a login's; {}: none), from after
    `last_id` (Last-Event-ID) when given; it must answer 200."""
    resume = {} if last_id is None else {"Last-Event-ID": str(last_id)}
    async with (
        httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client,
        client.stream("GET", "/api/stream", params=params, headers=resume) as response,
    ):
        assert response.status_code == 200, await response.aread()
        reader = Reader(response)
        try:
            yield reader
        finally:
            await reader.close()
