"""When the next attempt at a delivery is made: a pure function."""

from __future__ import annotations

from datetime import datetime, timedelta


def next_attempt(
    attempts: int, now: datetime, give_up_at: datetime, base_s: float, max_s: float
) -> datetime | None:
    """After `attempts` failed attempts (≥ 1): when to try again, exponential from `base_s`
    and at most `max_s` apart; None once that would be past `give_up_at` (give up)."""
    delay = min(base_s * 2 ** min(attempts - 1, 60), max_s)
    at = now + timedelta(seconds=delay)
    return None if at > give_up_at else at
