"""One stream client as the hub sees it: what it may receive, and its bounded buffer."""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

DEVICE: Final = "d"
TICKER: Final = "t"
Key = tuple[str, str]
"""(`DEVICE`, device id) or (`TICKER`, ticker): what an event is about."""
UNJOURNALED: Final = 2**63
"""The place in a buffer of a frame that is no journal event (a `portfolio` event): after
everything, never skipped as already sent."""


@dataclass(frozen=True, slots=True)
class Selection:
    """The subjects a client asked for; `None` on a `Subscriber`: everything it may read."""

    devices: frozenset[str] = frozenset()
    tickers: frozenset[str] = frozenset()

    def as_keys(self) -> list[Key]:
        return [(DEVICE, d) for d in sorted(self.devices)] + [
            (TICKER, t) for t in sorted(self.tickers)
        ]

    def __contains__(self, key: Key) -> bool:
        kind, subject = key
        return subject in (self.devices if kind == DEVICE else self.tickers)


@dataclass(eq=False, slots=True)
class Subscriber:
    """Frames wait in `_frames` until the response takes them; past `limit` bytes the
    subscriber is dropped (the hub stops feeding it and frees the buffer)."""

    user_id: uuid.UUID
    is_admin: bool
    selection: Selection | None
    limit: int
    kinds: frozenset[str] | None = None
    """Only events of these kinds (`kinds=`); None: every kind."""
    login: tuple[uuid.UUID, datetime] | None = None
    """The login the stream is open on (token `jti`, issued at): it ends when that login does."""
    portfolios: frozenset[int] = frozenset()
    """The portfolios whose `portfolio` events it asked for (`portfolios=`)."""
    after: int = 0
    """Events up to this id are not for this client (the backlog covers them, or it has them)."""
    dropped: str | None = None
    """Why the server ends this stream, once it does."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    _frames: deque[tuple[int, bytes]] = field(default_factory=deque)
    _size: int = 0

    def push(self, event_id: int, frame: bytes) -> bool:
        """Buffer a frame; past the bound drop this subscriber instead and return False
        (the caller unregisters it)."""
        if self.dropped is not None or event_id <= self.after:
            return True
        self._frames.append((event_id, frame))
        self._size += len(frame)
        if self._size > self.limit:
            self.drop("slow")
            return False
        self.wake.set()
        return True

    def take(self, max_bytes: int) -> list[bytes]:
        """Frames to send now, oldest first, about `max_bytes` at most (at least one)."""
        taken: list[bytes] = []
        size = 0
        while self._frames and size < max_bytes:
            event_id, frame = self._frames.popleft()
            self._size -= len(frame)
            if event_id > self.after:
                taken.append(frame)
                size += len(frame)
        if not self._frames:
            self.wake.clear()
        return taken

    def drop(self, reason: str) -> None:
        """End this stream: no more frames, the buffer freed, the response told."""
        if self.dropped is None:
            self.dropped = reason
        self._frames.clear()
        self._size = 0
        self.wake.set()
