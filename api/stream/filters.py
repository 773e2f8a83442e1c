"""`tickers=` and `devices=` of a stream request: parsed, capped, and authorized at once."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from api import access
from api.error_codes import ErrorCode
from api.errors import Invalid
from api.models import User
from api.stream.subscriber import Selection


def split(values: Iterable[str] | None) -> frozenset[str]:
    """Comma-separated and/or repeated values, blanks ignored."""
    return frozenset(
        part.strip() for value in values or () for part in value.split(",") if part.strip()
    )


async def selection(
    pool: asyncpg.Pool,
    user: User,
    devices: frozenset[str],
    tickers: frozenset[str],
    max_subjects: int,
) -> Selection | None:
    """What the client asked for (None: no filter, everything it may read); 404 for the
    first subject it may not read (absent and forbidden look alike), 422 past the cap."""
    if not devices and not tickers:
        return None
    if len(devices) + len(tickers) > max_subjects:
        raise Invalid(
            f"at most {max_subjects} tickers and devices in one stream",
            code=ErrorCode.TOO_MANY_SUBJECTS,
        )
    await access.require_readable(pool, user, access.DEVICE, devices)
    await access.require_readable(pool, user, access.STOCK, tickers)
    return Selection(devices, tickers)
