"""/api/stocks: market data, shared by every user.

Everyone reads every stock; only an admin adds, changes or deletes one (api/access.py,
`require_market_admin`): no user can claim a ticker and hide it from others. Tickers the
ingester auto-registers are such stocks too.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import delete, select

from api.access import require_market_admin, stocks_visible
from api.alert_clearing import clear_open_alerts, stream
from api.audit import AuditAction, Entry, record_request
from api.crud.listing import fetch_page
from api.crud.readable import stock_or_404
from api.crud.writes import commit
from api.deps import CurrentUser, Limit, Offset, SessionDep
from api.error_codes import ErrorCode
from api.errors import Conflict
from api.models import Stock
from api.pagination import Page
from api.schemas.stocks import StockCreate, StockRead, StockUpdate

router = APIRouter()

_ADMIN_ONLY: dict[int | str, dict[str, Any]] = {
    403: {"description": "not an admin: `shared_stock_admin_only`"}
}


@router.get(
    "/stocks",
    response_model=Page[StockRead],
    summary="List stocks",
    description="Every stock (market data is shared), ordered by ticker.",
)
async def list_stocks(
    session: SessionDep, user: CurrentUser, limit: Limit = 100, offset: Offset = 0
) -> Page[StockRead]:
    query = select(Stock).where(stocks_visible(user)).order_by(Stock.ticker)
    rows, total = await fetch_page(session, query, limit, offset)
    items = [StockRead.model_validate(row) for row in rows]
    return Page[StockRead](items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/stocks",
    response_model=StockRead,
    status_code=201,
    responses=_ADMIN_ONLY,
    summary="Add a stock (admin)",
    description=(
        "Shared market data, read by every user. Admin only: anyone else → 403 "
        "`shared_stock_admin_only`. A ticker already taken → 409 `stock_exists`."
    ),
)
async def create_stock(
    body: StockCreate, session: SessionDep, user: CurrentUser, request: Request
) -> StockRead:
    require_market_admin(user)
    if await session.scalar(select(Stock.ticker).where(Stock.ticker == body.ticker)):
        raise _exists(body.ticker)
    stock = Stock(
        ticker=body.ticker, name=body.name, exchange=body.exchange, currency=body.currency
    )
    session.add(stock)
    await commit(session, duplicate=_exists(body.ticker))
    await session.refresh(stock)
    await record_request(request, Entry(AuditAction.STOCK_ADDED, actor=user, subject=stock.ticker))
    return StockRead.model_validate(stock)


@router.get(
    "/stocks/{ticker}",
    response_model=StockRead,
    summary="One stock",
    description="404 `stock_not_found` when absent.",
)
async def get_stock(ticker: str, session: SessionDep, user: CurrentUser) -> StockRead:
    return StockRead.model_validate(await stock_or_404(session, user, ticker))


@router.patch(
    "/stocks/{ticker}",
    response_model=StockRead,
    responses=_ADMIN_ONLY,
    summary="Change a stock's description (admin)",
    description="Only the fields sent change. Admin only (403 `shared_stock_admin_only`).",
)
async def update_stock(
    ticker: str, body: StockUpdate, session: SessionDep, user: CurrentUser, request: Request
) -> StockRead:
    require_market_admin(user)
    stock = await stock_or_404(session, user, ticker)
    changes = body.changes()
    for name, value in changes.items():
        setattr(stock, name, value)
    await commit(session)
    changed = Entry(AuditAction.STOCK_CHANGED, user, ticker, details={"fields": sorted(changes)})
    await record_request(request, changed)
    return StockRead.model_validate(stock)


@router.delete(
    "/stocks/{ticker}",
    status_code=204,
    response_class=Response,
    responses=_ADMIN_ONLY,
    summary="Delete a stock (admin)",
    description=(
        "Removes the stock and what refers to it (device links, watchlist entries, alert "
        "rules; its open alerts are cleared). Its price rows and candles stay. Admin only "
        "(403 `shared_stock_admin_only`)."
    ),
)
async def delete_stock(
    ticker: str, session: SessionDep, user: CurrentUser, request: Request
) -> Response:
    require_market_admin(user)
    await stock_or_404(session, user, ticker)
    cleared = await clear_open_alerts(session, "ticker", ticker, "the stock was deleted")
    await session.execute(delete(Stock).where(Stock.ticker == ticker))
    await stream(session, cleared)
    await commit(session)
    await record_request(request, Entry(AuditAction.STOCK_DELETED, actor=user, subject=ticker))
    return Response(status_code=204)


def _exists(ticker: str) -> Conflict:
    return Conflict(f"stock {ticker!r} already exists", code=ErrorCode.STOCK_EXISTS)
