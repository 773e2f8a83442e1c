"""What a resuming client missed: the journal's events in (Last-Event-ID, P], P being the hub's
position when the client was registered, filtered exactly like live events.

Read in pages, each from its own short snapshot together with the journal's window (its
oldest id), on a pool connection released before the page is sent: a slow client never holds
a connection. A page whose window no longer reaches back to the cursor means events were
pruned meanwhile: a `reset` then, as for an id that is too old from the start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg

from api.stream import frames, store
from api.stream.routing import delivers, event_key, owner_of
from api.stream.subscriber import Subscriber


async def missed(
    pool: asyncpg.Pool, sub: Subscriber, last_id: int, position: int
) -> AsyncIterator[bytes]:
    """The frames to send before the live ones, page by page (a `reset` when the events
    after `last_id` are gone, or `last_id` was never handed out)."""
    selection = sub.selection
    subjects = None if selection is None else selection.devices | selection.tickers
    cursor = last_id
    while True:
        async with pool.acquire() as conn:
            window, rows = await store.page(conn, cursor, position, subjects)
            keys = [event_key(row["kind"], row["subject"], row["data"]) for row in rows]
            owners = await store.owners(conn, set(keys)) if rows else {}
        if last_id > window.last:
            yield frames.reset(position, "unknown")
            return
        if last_id >= position:
            sub.after = last_id  # it already has what the hub has handed out since
            return
        if not window.keeps_after(cursor):
            yield frames.reset(position, "pruned")
            return
        chunk = b"".join(
            frames.event(row["id"], row["kind"], row["data"])
            for row, key in zip(rows, keys, strict=True)
            if (sub.kinds is None or row["kind"] in sub.kinds)
            and delivers(sub, key, owner_of(owners, key), row["audience"])
        )
        if chunk:
            yield chunk
        if len(rows) < store.PAGE:
            return
        cursor = rows[-1]["id"]
