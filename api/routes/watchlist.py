"""/api/watchlist: the caller's own watched tickers, with alert levels.

A watchlist is personal: every user (an admin included) sees and changes only their own.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import delete, select

from api.crud.listing import fetch_page
from api.crud.readable import stock_or_404
from api.crud.writes import commit
from api.deps import CurrentUser, Limit, Offset, SessionDep
from api.error_codes import ErrorCode
from api.errors import NotFound
from api.models import WatchlistEntry
from api.pagination import Page
from api.schemas.common import TICKER_RE
from api.schemas.watchlist import WatchlistEntryRead, WatchlistEntryWrite

router = APIRouter()


@router.get(
    "/watchlist",
    response_model=Page[WatchlistEntryRead],
    summary="The caller's watchlist",
    description="Ordered by ticker.",
)
async def list_watchlist(
    session: SessionDep, user: CurrentUser, limit: Limit = 100, offset: Offset = 0
) -> Page[WatchlistEntryRead]:
    query = (
        select(WatchlistEntry)
        .where(WatchlistEntry.user_id == user.id)
        .order_by(WatchlistEntry.ticker)
    )
    rows, total = await fetch_page(session, query, limit, offset)
    items = [WatchlistEntryRead.model_validate(row) for row in rows]
    return Page[WatchlistEntryRead](items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/watchlist",
    response_model=WatchlistEntryRead,
    status_code=201,
    summary="Watch a ticker (or change its levels)",
    description=(
        "An upsert: a new ticker → 201; a ticker already watched → 200 with its levels "
        "replaced by the body's (an omitted level is removed). Both levels set: "
        "`alert_below` < `alert_above`, else 422. The ticker must be readable by the caller "
        "(404 `stock_not_found`)."
    ),
    responses={200: {"model": WatchlistEntryRead, "description": "levels updated"}},
)
async def watch(
    body: WatchlistEntryWrite, session: SessionDep, user: CurrentUser, response: Response
) -> WatchlistEntryRead:
    await stock_or_404(session, user, body.ticker)
    entry = await session.get(WatchlistEntry, (user.id, body.ticker))
    if entry is None:
        entry = WatchlistEntry(user_id=user.id, ticker=body.ticker)
        session.add(entry)
    else:
        response.status_code = 200
    entry.alert_above, entry.alert_below = body.alert_above, body.alert_below
    await commit(session)
    await session.refresh(entry)
    return WatchlistEntryRead.model_validate(entry)


@router.delete(
    "/watchlist/{ticker}",
    status_code=204,
    response_class=Response,
    summary="Stop watching a ticker",
    description="404 `watchlist_entry_not_found` when the caller does not watch it.",
)
async def unwatch(ticker: str, session: SessionDep, user: CurrentUser) -> Response:
    removed = None
    if TICKER_RE.fullmatch(ticker):
        result = await session.execute(
            delete(WatchlistEntry)
            .where(WatchlistEntry.user_id == user.id, WatchlistEntry.ticker == ticker)
            .returning(WatchlistEntry.ticker)
        )
        removed = result.first()
    if removed is None:
        raise NotFound(
            f"{ticker[:40]!r} is not on the watchlist", code=ErrorCode.WATCHLIST_ENTRY_NOT_FOUND
        )
    await commit(session)
    return Response(status_code=204)
