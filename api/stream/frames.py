"""Server-sent event frames, encoded once per event and shared by every subscriber."""

from __future__ import annotations

from typing import Final

import orjson

KEEP_ALIVE: Final = b": keep-alive\n"


def event(event_id: int, kind: str, data: str) -> bytes:
    """`id`, `event` and `data` lines; a multi-line `data` (never ours: JSON on one line) is
    split into one `data:` line each, as the format requires."""
    if "\n" in data or "\r" in data:
        data = "\ndata: ".join(data.splitlines())
    return f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n".encode()


def unjournaled(kind: str, data: str) -> bytes:
    """An event that is no journal entry (`portfolio`): no `id`, so the client's resume point
    stays its last journal event."""
    return f"event: {kind}\ndata: {data}\n\n".encode()


def opening(retry_ms: int) -> bytes:
    """The first bytes of every stream: the reconnection delay."""
    return f"retry: {retry_ms}\n: tickwire live stream\n\n".encode()


def cursor(position: int, comment: bytes = b"") -> bytes:
    """A frame with an `id` and no data: EventSource records it as the resume point and
    dispatches nothing. Sent when a client is up to date with the journal at `position`."""
    return comment + f"id: {position}\n\n".encode()


def reset(position: int, reason: str) -> bytes:
    """Missed events cannot be replayed (`reason`): reload history, live continues after
    `position`."""
    data = orjson.dumps({"reason": reason, "last_id": position}).decode()
    return event(position, "reset", data)


def dropped(reason: str) -> bytes:
    """The last frame of a stream the server ends; no `id`, so the client resumes from the
    last event it actually received."""
    return f"event: dropped\ndata: {orjson.dumps({'reason': reason}).decode()}\n\n".encode()
