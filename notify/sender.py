"""Sending due deliveries: claim one, try it, record the attempt, in one transaction.

The delivery's row stays locked (`FOR UPDATE SKIP LOCKED`) while it is tried, so several
senders (in one notifier or several) never try the same one at once; a sender that dies
mid-attempt releases the lock with its connection and the delivery is tried again, with the
same id (at least once). The senders of one notifier skip channels one of them is sending
to, so a dead endpoint holds one sender at a time, never all. A failed attempt sets the next
one by `notify.backoff`; past the delivery's `give_up_at` it is `failed`, and kept.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import asyncpg

from notify.backoff import next_attempt
from notify.settings import NotifySettings

log = logging.getLogger(__name__)

_CLAIM: Final = """
SELECT d.id, d.channel_id, d.event, d.alert, d.attempts, d.give_up_at,
       c.kind, c.url, c.secret, c.email_to
FROM notification_deliveries d JOIN notification_channels c ON c.id = d.channel_id
WHERE d.status = 'pending' AND d.next_at <= now() AND NOT (d.channel_id = ANY ($1::bigint[]))
ORDER BY d.next_at LIMIT 1
FOR UPDATE OF d SKIP LOCKED"""
_WAITING: Final = """
SELECT count(*) FROM notification_deliveries
WHERE channel_id = $1 AND status = 'pending' AND next_at <= now()"""
_SIBLINGS: Final = """
SELECT d.id, d.channel_id, d.event, d.alert, d.attempts, d.give_up_at,
       c.kind, c.url, c.secret, c.email_to
FROM notification_deliveries d JOIN notification_channels c ON c.id = d.channel_id
WHERE d.channel_id = $1 AND d.status = 'pending' AND d.next_at <= now() AND d.id <> $2
ORDER BY d.created_at LIMIT $3
FOR UPDATE OF d SKIP LOCKED"""
_ATTEMPT: Final = """
INSERT INTO notification_attempts (delivery_id, ok, status_code, error) VALUES ($1, $2, $3, $4)"""
_SENT: Final = """
UPDATE notification_deliveries SET status = 'sent', attempts = attempts + 1, done_at = now(),
    last_error = NULL
WHERE id = $1"""
_RETRY: Final = """
UPDATE notification_deliveries SET attempts = attempts + 1, last_error = $2,
    status = CASE WHEN $3::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
    next_at = coalesce($3, next_at), done_at = CASE WHEN $3::timestamptz IS NULL THEN now() END
WHERE id = $1"""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to: `ok`, the HTTP status (webhooks), an error for people."""

    ok: bool
    status_code: int | None = None
    error: str | None = None


@dataclass
class Busy:
    """The channels this notifier's senders are sending to, and the lock that makes claiming a
    delivery and marking its channel busy one step: without it two senders could each take a
    delivery of one channel, and an email storm became a digest plus single messages."""

    channels: set[int] = field(default_factory=set)
    claiming: asyncio.Lock = field(default_factory=asyncio.Lock)


class Transport(Protocol):
    """Sends deliveries (claimed rows: channel and change) of one channel somewhere: one
    delivery, or (email) several as one digest."""

    async def send(self, deliveries: list[Any]) -> Outcome: ...


async def send_one(
    conn: asyncpg.Connection,
    transports: dict[str, Transport],
    settings: NotifySettings,
    busy: Busy,
) -> str | None:
    """Claim a due delivery to a channel not in `busy` (channels being sent to) and try it
    once (an email channel with `notify_digest_min` or more due: all of them, as one digest);
    the outcome (`sent`, `retry`, `failed`), or None when nothing was due."""
    async with conn.transaction():
        async with busy.claiming:  # one step: else two senders take one channel's rows at once
            delivery = await conn.fetchrow(_CLAIM, list(busy.channels))
            if delivery is None:
                return None
            channel = delivery["channel_id"]
            busy.channels.add(channel)
        try:
            batch = [delivery, *await _digest_siblings(conn, delivery, settings)]
            outcome = await transports[delivery["kind"]].send(batch)
        except Exception as exc:  # a transport's bug must not stop the sender: count it, retry
            log.exception("delivery %s", delivery["id"])
            outcome = Outcome(False, error=f"internal error: {type(exc).__name__}")
        finally:
            busy.channels.discard(channel)
        results = [await _record(conn, each, outcome, settings) for each in batch]
        return results[0]


async def _digest_siblings(
    conn: asyncpg.Connection, delivery: Any, settings: NotifySettings
) -> list[Any]:
    """The other due deliveries of an email channel, when there are enough for a digest."""
    if delivery["kind"] != "email" or settings.notify_digest_min < 2:
        return []
    waiting = await conn.fetchval(_WAITING, delivery["channel_id"])
    if waiting < settings.notify_digest_min:
        return []
    limit = settings.notify_digest_max - 1
    return list(await conn.fetch(_SIBLINGS, delivery["channel_id"], delivery["id"], limit))


async def _record(
    conn: asyncpg.Connection, delivery: Any, outcome: Outcome, settings: NotifySettings
) -> str:
    """The attempt, and the delivery's new state; `sent`, `retry` or `failed`."""
    await conn.execute(_ATTEMPT, delivery["id"], outcome.ok, outcome.status_code, outcome.error)
    if outcome.ok:
        await conn.execute(_SENT, delivery["id"])
        return "sent"
    error = outcome.error or f"HTTP {outcome.status_code}"
    at = next_attempt(
        delivery["attempts"] + 1,
        datetime.now(UTC),
        delivery["give_up_at"],
        settings.notify_retry_base_s,
        settings.notify_retry_max_s,
    )
    await conn.execute(_RETRY, delivery["id"], error[:1000], at)
    return "failed" if at is None else "retry"
