"""`tickers=` and `devices=` of a stream request: parsed, capped, and authorized at once."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from api.errors import Invalid, NotFound
from api.models import User
from api.stream.subscriber import Selection
from tickwire.contract import ID_RE, TICKER_RE


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
            code="too_many_subjects",
        )
    await _readable(pool, user, "devices", "device_id", devices, "device_not_found")
    await _readable(pool, user, "stocks", "ticker", tickers, "stock_not_found")
    return Selection(devices, tickers)


async def _readable(
    pool: asyncpg.Pool, user: User, table: str, column: str, wanted: frozenset[str], code: str
) -> None:
    pattern = ID_RE if table == "devices" else TICKER_RE
    for subject in sorted(wanted):
        if pattern.fullmatch(subject) is None:
            raise NotFound(f"no {table[:-1]} {subject[:80]!r}", code=code)
    rows = await pool.fetch(
        f"SELECT {column} AS subject, owner_id FROM {table} WHERE {column} = ANY($1)",
        list(wanted),
    )
    owners = {row["subject"]: row["owner_id"] for row in rows}
    shared = table == "stocks"
    for subject in sorted(wanted):
        owner = owners.get(subject, False)
        if owner is False or not (
            user.is_superuser or owner == user.id or (shared and owner is None)
        ):
            raise NotFound(f"no {table[:-1]} {subject!r}", code=code)
