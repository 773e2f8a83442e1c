"""Sending due deliveries: claim one, try it, record the attempt, in one transaction.

The delivery's row stays locked (`FOR UPDATE SKIP LOCKED`) while it is tried, so several
senders (in one notifier or several) never try the same one at once; a sender that dies
mid-attempt releases the lock with its connection and the delivery is tried again, with the
same id (at least once). The senders of one notifier skip channels one of them is sending
to, so a dead endpoint holds one sender at a time, never all. A failed attempt sets the next
one by `notify.backoff`; past the delivery's `give_up_at` it is `failed`, and kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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


class Transport(Protocol):
    """Sends one delivery (a claimed row: channel and change) somewhere."""

    async def send(self, delivery: Any) -> Outcome: ...


async def send_one(
    conn: asyncpg.Connection,
    transports: dict[str, Transport],
    settings: NotifySettings,
    busy: set[int],
) -> str | None:
    """Claim a due delivery to a channel not in `busy` (channels being sent to) and try it
    once; the outcome (`sent`, `retry`, `failed`), or None when nothing was due."""
    async with conn.transaction():
        delivery = await conn.fetchrow(_CLAIM, list(busy))
        if delivery is None:
            return None
        channel = delivery["channel_id"]
        busy.add(channel)
        try:
            outcome = await transports[delivery["kind"]].send(delivery)
        except Exception as exc:  # a transport's bug must not stop the sender: count it, retry
            log.exception("delivery %s", delivery["id"])
            outcome = Outcome(False, error=f"internal error: {type(exc).__name__}")
        finally:
            busy.discard(channel)
        await conn.execute(_ATTEMPT, delivery["id"], outcome.ok, outcome.status_code, outcome.error)
        if outcome.ok:
            await conn.execute(_SENT, delivery["id"])
            return "sent"
        error = outcome.error or f"HTTP {outcome.status_code}"
        now = datetime.now(UTC)
        at = next_attempt(
            delivery["attempts"] + 1,
            now,
            delivery["give_up_at"],
            settings.notify_retry_base_s,
            settings.notify_retry_max_s,
        )
        await conn.execute(_RETRY, delivery["id"], error[:1000], at)
        return "failed" if at is None else "retry"
