"""The bounded queue between paho's network thread and the asyncio receiver."""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Handoff(Generic[T]):
    """Thread → asyncio queue: `put` from any thread, blocking while full; `drain` in the loop.

    The producer schedules a wake-up only when the consumer is waiting, so a burst of messages
    costs one `call_soon_threadsafe`, not one per message.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self._loop = loop
        self._items: collections.deque[T] = collections.deque()
        self._space = threading.Semaphore(maxsize)
        self._ready = asyncio.Event()
        self._armed = False
        self.closed = False

    def put(self, item: T) -> None:
        """Called by the producer thread; blocks while the queue is full (back-pressure)."""
        while not self._space.acquire(timeout=0.5):
            if self.closed:
                return
        self._items.append(item)
        if self._armed:
            self._armed = False
            self._loop.call_soon_threadsafe(self._ready.set)

    async def wait(
        self,
        timeout: float | None,
        wake_on: Iterable[asyncio.Event] = (),
    ) -> None:
        """Return when items are queued, an event of `wake_on` is set, or `timeout` passed."""
        self._ready.clear()
        self._armed = True
        if self._items:
            self._armed = False
            return
        if any(event.is_set() for event in wake_on):
            self._armed = False
            return
        waiters = [asyncio.ensure_future(e.wait()) for e in (self._ready, *wake_on)]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._armed = False
            for waiter in waiters:
                waiter.cancel()

    def drain(self, limit: int) -> list[T]:
        """Take up to `limit` queued items, in order."""
        items = self._items
        count = min(limit, len(items))
        taken = [items.popleft() for _ in range(count)]
        if count:
            self._space.release(count)
        return taken
