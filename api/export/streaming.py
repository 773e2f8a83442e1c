"""An export's bytes: one COPY in a read-only REPEATABLE READ snapshot, streamed with
bounded memory to the HTTP response.

A task (the producer) takes a pool connection when the response starts, plans the statement
and runs `COPY (…) TO STDOUT` into a pipe of at most `PIPE_DEPTH` chunks; the response body
(the consumer) drains the pipe. While the pipe is full the COPY callback waits and asyncpg
stops reading the socket, so PostgreSQL waits too: memory stays flat whatever the size. When
the client goes away the response closes the body, which cancels the producer; its own
`async with` blocks then roll back and give the connection back to the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Final

import asyncpg
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.export.exporters import Exporter, JsonArrayFraming
from api.export.query import Statement

PIPE_DEPTH: Final = 8
"""Chunks (each at most one socket read, ≤ 256 KiB) between PostgreSQL and the response."""
COALESCE_BYTES: Final = 256 * 1024
"""Chunks waiting in the pipe are joined up to this size: fewer, larger HTTP chunks."""
COPY_TIMEOUT_S: Final = 24 * 3600.0
"""An export's COPY runs as long as its client reads (a client that leaves cancels it)."""

Planner = Callable[[asyncpg.Connection], Awaitable[Statement]]

#: Producers still running; asyncio keeps only weak references to tasks.
_producers: set[asyncio.Task[None]] = set()


class Pipe:
    """Chunks from the COPY callback to the response, at most `depth` in flight, then the end
    (or the producer's error)."""

    def __init__(self, depth: int = PIPE_DEPTH) -> None:
        self._slots = asyncio.Semaphore(depth)
        self._chunks: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
        self._ended = False

    async def put(self, chunk: bytes) -> None:
        await self._slots.acquire()
        self._chunks.put_nowait(chunk)

    def close(self, error: BaseException | None = None) -> None:
        self._chunks.put_nowait(error)

    async def get(self) -> bytes | None:
        """The next bytes (waiting chunks joined), None at the end; raises the producer's error."""
        if self._ended:
            return None
        parts: list[bytes] = []
        size = 0
        item = await self._chunks.get()
        while True:
            if isinstance(item, BaseException):
                raise item
            if item is None:
                self._ended = True
                break
            self._slots.release()
            parts.append(item)
            size += len(item)
            if size >= COALESCE_BYTES or self._chunks.empty():
                break
            item = self._chunks.get_nowait()
        return b"".join(parts) if parts else None


async def _produce(pool: asyncpg.Pool, plan: Planner, exporter: Exporter, pipe: Pipe) -> None:
    """The top of the producer task: its errors go to the consumer through the pipe."""
    try:
        async with (
            pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            # Shortest exact text for float8 whatever the server's default.
            await conn.execute("SET LOCAL extra_float_digits = 3")
            chosen = await plan(conn)
            # The COPY streams at the client's pace: not bound by the query timeout.
            await conn.execute("SET LOCAL statement_timeout = 0")
            await conn.copy_from_query(
                chosen.sql,
                *chosen.args,
                output=pipe.put,
                timeout=COPY_TIMEOUT_S,
                **exporter.copy_options,
            )
    except Exception as exc:  # the consumer raises it, ending the response
        pipe.close(exc)
    else:
        pipe.close()


async def export_body(
    pool: asyncpg.Pool, plan: Planner, exporter: Exporter, root: str
) -> AsyncGenerator[bytes, None]:
    """The response body: prologue, the COPY's chunks (framed for a JSON array), epilogue."""
    pipe = Pipe()
    producer = asyncio.create_task(_produce(pool, plan, exporter, pipe), name="export-copy")
    _producers.add(producer)
    producer.add_done_callback(_producers.discard)
    head, tail = exporter.around(root)
    framing = JsonArrayFraming() if exporter.json_array else None
    try:
        if head:
            yield head
        while (chunk := await pipe.get()) is not None:
            yield framing.feed(chunk) if framing else chunk
        if tail:
            yield tail
    finally:
        producer.cancel()  # a no-op once it finished


class ExportResponse(StreamingResponse):
    """A streamed export that always closes its body, so a client that goes away mid-stream
    cancels the COPY and frees its connection at once (not when the generator is collected)."""

    def __init__(
        self, body: AsyncGenerator[bytes, None], exporter: Exporter, filename: str
    ) -> None:
        super().__init__(
            body,
            media_type=exporter.content_type,
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Vary": "Accept",
            },
        )
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._body.aclose()
