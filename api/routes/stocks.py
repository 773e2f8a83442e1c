"""/api/stocks: shared market data (no owner) and each user's own tickers.

Everyone reads shared stocks, only an admin creates, changes or deletes them; a user creates
their own and changes only those. Tickers the ingester auto-registers are shared.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.access import stocks_visible
from api.alert_clearing import clear_open_alerts, stream
from api.crud.listing import fetch_page
from api.crud.readable import stock_or_404
from api.crud.writes import commit
from api.deps import CurrentUser, Limit, Offset, SessionDep
from api.error_codes import ErrorCode
from api.errors import Conflict, Forbidden
from api.models import Stock, User
from api.pagination import Page
from api.schemas.stocks import StockCreate, StockRead, StockUpdate

router = APIRouter()


@router.get(
    "/stocks",
    response_model=Page[StockRead],
    summary="List stocks",
    description="Shared stocks and the caller's own (an admin: all), ordered by ticker.",
)
async def list_stocks(
    session: SessionDep,
    user: CurrentUser,
    limit: Limit = 100,
    offset: Offset = 0,
    shared: Annotated[
        bool | None, Query(description="true: only shared ones; false: only owned ones")
    ] = None,
) -> Page[StockRead]:
    query = select(Stock).where(stocks_visible(user)).order_by(Stock.ticker)
    if shared is not None:
        query = query.where(Stock.owner_id.is_(None) if shared else Stock.owner_id.is_not(None))
    rows, total = await fetch_page(session, query, limit, offset)
    items = [StockRead.model_validate(row) for row in rows]
    return Page[StockRead](items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/stocks",
    response_model=StockRead,
    status_code=201,
    summary="Add a stock",
    description=(
        "Owned by the caller, or shared market data with `shared: true` (admin only, else "
        "403 `shared_stock_admin_only`). A ticker already taken → 409 `stock_exists`."
    ),
)
async def create_stock(body: StockCreate, session: SessionDep, user: CurrentUser) -> StockRead:
    if body.shared and not user.is_superuser:
        raise _admin_only()
    if await session.scalar(select(Stock.ticker).where(Stock.ticker == body.ticker)):
        raise _exists(body.ticker)
    stock = Stock(
        ticker=body.ticker,
        name=body.name,
        exchange=body.exchange,
        currency=body.currency,
        owner_id=None if body.shared else user.id,
    )
    session.add(stock)
    await commit(session, duplicate=_exists(body.ticker))
    await session.refresh(stock)
    return StockRead.model_validate(stock)


@router.get(
    "/stocks/{ticker}",
    response_model=StockRead,
    summary="One stock",
    description="404 `stock_not_found` when absent or another user's own.",
)
async def get_stock(ticker: str, session: SessionDep, user: CurrentUser) -> StockRead:
    return StockRead.model_validate(await stock_or_404(session, user, ticker))


@router.patch(
    "/stocks/{ticker}",
    response_model=StockRead,
    summary="Change a stock's description",
    description="Only the fields sent change. A shared stock: admin only (403).",
)
async def update_stock(
    ticker: str, body: StockUpdate, session: SessionDep, user: CurrentUser
) -> StockRead:
    stock = await _writable(session, user, ticker)
    for name, value in body.changes().items():
        setattr(stock, name, value)
    await commit(session)
    return StockRead.model_validate(stock)


@router.delete(
    "/stocks/{ticker}",
    status_code=204,
    response_class=Response,
    summary="Delete a stock",
    description=(
        "Removes the stock and what refers to it (device links, watchlist entries, alert "
        "rules; its open alerts are cleared). Its price rows and candles stay. A shared "
        "stock: admin only (403)."
    ),
)
async def delete_stock(ticker: str, session: SessionDep, user: CurrentUser) -> Response:
    await _writable(session, user, ticker)
    cleared = await clear_open_alerts(session, "ticker", ticker, "the stock was deleted")
    await session.execute(delete(Stock).where(Stock.ticker == ticker))
    await stream(session, cleared)
    await commit(session)
    return Response(status_code=204)


async def _writable(session: AsyncSession, user: User, ticker: str) -> Stock:
    """The stock if the caller may change it: 404 if unreadable, 403 if shared."""
    stock = await stock_or_404(session, user, ticker)
    if stock.owner_id is None and not user.is_superuser:
        raise _admin_only()
    return stock


def _admin_only() -> Forbidden:
    return Forbidden(
        "shared market data: only an admin may create, change or delete it",
        code=ErrorCode.SHARED_STOCK_ADMIN_ONLY,
    )


def _exists(ticker: str) -> Conflict:
    return Conflict(f"stock {ticker!r} already exists", code=ErrorCode.STOCK_EXISTS)
