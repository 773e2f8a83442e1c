"""`tickers=`, `devices=` and `portfolios=` of a stream request: parsed, capped, and
authorized at once."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from api import access
from api.access import owner_filter
from api.error_codes import ErrorCode
from api.errors import Invalid, NotFound
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
    portfolios: frozenset[str] = frozenset(),
) -> tuple[Selection | None, frozenset[int]]:
    """What the client asked for: the journal's subjects (None: no filter, everything it may
    read; only `portfolios=`: none) and the portfolios; 404 for the first subject it may not
    read (absent and forbidden look alike), 422 past the cap (every kind counts)."""
    if len(devices) + len(tickers) + len(portfolios) > max_subjects:
        raise Invalid(
            f"at most {max_subjects} tickers, devices and portfolios in one stream",
            code=ErrorCode.TOO_MANY_SUBJECTS,
        )
    await access.require_readable(pool, user, access.DEVICE, devices)
    await access.require_readable(pool, user, access.STOCK, tickers)
    ids = await readable_portfolios(pool, user, portfolios)
    if not devices and not tickers and not ids:
        return None, ids
    return Selection(devices, tickers), ids


async def readable_portfolios(
    pool: asyncpg.Pool, user: User, wanted: frozenset[str]
) -> frozenset[int]:
    """The ids of `wanted`, each the caller's (an admin: any); else 404 `portfolio_not_found`
    for the first that is not, malformed ids included (no such portfolio can exist)."""
    ids: set[int] = set()
    for text in sorted(wanted):
        if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) >= 2**63:
            raise _no_portfolio(text)
        ids.add(int(text))
    found = await pool.fetch(
        "SELECT id FROM portfolios WHERE id = ANY($1::bigint[])"
        " AND ($2::uuid IS NULL OR owner_id = $2)",
        sorted(ids),
        owner_filter(user),
    )
    missing = ids - {row["id"] for row in found}
    if missing:
        raise _no_portfolio(str(min(missing)))
    return frozenset(ids)


def _no_portfolio(text: str) -> NotFound:
    return NotFound(f"no portfolio {text[:40]!r}", code=ErrorCode.PORTFOLIO_NOT_FOUND)
