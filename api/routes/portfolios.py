"""/api/portfolios: portfolios private to their owner (an admin sees all), their transactions,
holdings with P&L, and value over time.

Holdings are replayed from the transactions on every read (`api.market.ledger`): a
transaction entered in the past, or one deleted, changes everything after it. A change that
would leave a sell larger than what was held at its time is refused (422
`insufficient_quantity`); the portfolio's row is locked while it is checked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Path, Response

from api.access import owner_filter
from api.deps import CurrentUser, Limit, Offset, PoolDep, RangeDep
from api.error_codes import ErrorCode
from api.errors import Invalid, NotFound
from api.history.resolution import Source, ask
from api.market import holdings, ledger
from api.models import User
from api.routes.history import Points, _json
from api.schemas.portfolios import PortfolioPatch, PortfolioWrite, TransactionWrite
from tickwire.journal import PORTFOLIO_CHANNEL

router = APIRouter()
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
#: A transaction may be dated this far ahead of the server's clock (clock skew), no further.
FUTURE_SLACK = timedelta(minutes=5)
_COLUMNS = "id, owner_id, name, created_at"


async def _portfolio(
    conn: asyncpg.Connection, user: User, portfolio_id: int, lock: bool = False
) -> dict[str, Any]:
    """The portfolio if `user` may read it; 404 `portfolio_not_found` alike for absent and
    another user's."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM portfolios WHERE id = $1"
        " AND ($2::uuid IS NULL OR owner_id = $2)" + (" FOR UPDATE" if lock else ""),
        portfolio_id,
        owner_filter(user),
    )
    if row is None:
        raise NotFound(f"no portfolio {portfolio_id}", code=ErrorCode.PORTFOLIO_NOT_FOUND)
    return dict(row)


@router.get("/portfolios", summary="The caller's portfolios (an admin: everyone's)")
async def list_portfolios(
    user: CurrentUser, pool: PoolDep, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    """Ordered by id; `limit`/`offset` page them."""
    owner = owner_filter(user)
    where = "WHERE ($1::uuid IS NULL OR owner_id = $1)"
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM portfolios {where} ORDER BY id LIMIT $2 OFFSET $3",
            owner,
            limit,
            offset,
        )
        total = await conn.fetchval(f"SELECT count(*) FROM portfolios {where}", owner)
    return {"items": [dict(r) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.post("/portfolios", status_code=201, summary='Create a portfolio (`{"name"}`)')
async def create_portfolio(user: CurrentUser, pool: PoolDep, body: PortfolioWrite) -> Any:
    """The new portfolio, owned by the caller, with its `id`."""
    row = await pool.fetchrow(
        f"INSERT INTO portfolios (owner_id, name) VALUES ($1, $2) RETURNING {_COLUMNS}",
        user.id,
        body.name,
    )
    return dict(row)


@router.get("/portfolios/{portfolio_id}", summary="A portfolio")
async def get_portfolio(portfolio_id: Id, user: CurrentUser, pool: PoolDep) -> Any:
    """404 `portfolio_not_found` for another user's (an admin reads all)."""
    async with pool.acquire() as conn:
        return await _portfolio(conn, user, portfolio_id)


@router.patch("/portfolios/{portfolio_id}", summary="Rename a portfolio")
async def patch_portfolio(
    portfolio_id: Id, user: CurrentUser, pool: PoolDep, body: PortfolioPatch
) -> Any:
    """`{"name"}`; 404 `portfolio_not_found` for another user's."""
    async with pool.acquire() as conn, conn.transaction():
        found = await _portfolio(conn, user, portfolio_id, lock=True)
        if body.name is None:
            return found
        row = await conn.fetchrow(
            f"UPDATE portfolios SET name = $2 WHERE id = $1 RETURNING {_COLUMNS}",
            portfolio_id,
            body.name,
        )
        return dict(row)


@router.delete("/portfolios/{portfolio_id}", status_code=204, summary="Delete a portfolio")
async def delete_portfolio(portfolio_id: Id, user: CurrentUser, pool: PoolDep) -> Response:
    """With its transactions; 404 `portfolio_not_found` for another user's."""
    async with pool.acquire() as conn, conn.transaction():
        await _portfolio(conn, user, portfolio_id, lock=True)
        await conn.execute("DELETE FROM portfolios WHERE id = $1", portfolio_id)
        await _changed(conn, portfolio_id)
    return Response(status_code=204)


@router.get(
    "/portfolios/{portfolio_id}/transactions", summary="A portfolio's transactions, by time"
)
async def list_transactions(portfolio_id: Id, user: CurrentUser, pool: PoolDep) -> Any:
    """In (time, id) order: the order holdings are replayed in."""
    async with pool.acquire() as conn:
        await _portfolio(conn, user, portfolio_id)
        return {"items": await holdings.transactions(conn, portfolio_id)}


@router.post(
    "/portfolios/{portfolio_id}/transactions",
    status_code=201,
    summary="Record a buy or a sell",
    description="`time` defaults to now; at most 5 minutes ahead (422 `invalid_time`). A "
    "sell of more than was held at its time → 422 `insufficient_quantity`; a ticker that is "
    "not a stock → 422 `unknown_ticker`.",
)
async def create_transaction(
    portfolio_id: Id, user: CurrentUser, pool: PoolDep, body: TransactionWrite
) -> Any:
    now = datetime.now(UTC)
    at = now if body.time is None else body.time
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if at > now + FUTURE_SLACK or at.year < 1970:
        raise Invalid("time must be after 1970 and not in the future", code=ErrorCode.INVALID_TIME)
    async with pool.acquire() as conn, conn.transaction():
        await _portfolio(conn, user, portfolio_id, lock=True)
        if not await conn.fetchval("SELECT true FROM stocks WHERE ticker = $1", body.ticker):
            raise Invalid(f"unknown ticker {body.ticker}", code=ErrorCode.UNKNOWN_TICKER)
        row = await conn.fetchrow(
            """INSERT INTO portfolio_transactions
               (portfolio_id, ticker, side, quantity, price, fee, time)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               RETURNING id, ticker, side, quantity, price, fee, time, created_at""",
            portfolio_id,
            body.ticker,
            body.side,
            body.quantity,
            body.price,
            body.fee,
            at,
        )
        await _check(conn, portfolio_id)
        await _changed(conn, portfolio_id)
    return dict(row)


@router.delete(
    "/portfolios/{portfolio_id}/transactions/{transaction_id}",
    status_code=204,
    summary="Delete a transaction",
    description="422 `insufficient_quantity` when a later sell would then sell more than held.",
)
async def delete_transaction(
    portfolio_id: Id, transaction_id: Id, user: CurrentUser, pool: PoolDep
) -> Response:
    async with pool.acquire() as conn, conn.transaction():
        await _portfolio(conn, user, portfolio_id, lock=True)
        deleted = await conn.fetchval(
            "DELETE FROM portfolio_transactions WHERE id = $1 AND portfolio_id = $2 RETURNING id",
            transaction_id,
            portfolio_id,
        )
        if deleted is None:
            raise NotFound(f"no transaction {transaction_id}", code=ErrorCode.TRANSACTION_NOT_FOUND)
        await _check(conn, portfolio_id)
        await _changed(conn, portfolio_id)
    return Response(status_code=204)


async def _changed(conn: asyncpg.Connection, portfolio_id: int) -> None:
    """Tell every API process's live stream, once committed (`portfolio` events)."""
    await conn.execute("SELECT pg_notify($1, $2)", PORTFOLIO_CHANNEL, str(portfolio_id))


async def _check(conn: asyncpg.Connection, portfolio_id: int) -> None:
    """Invalid (422 `insufficient_quantity`) unless every sell had enough held (the caller's
    transaction then rolls back)."""
    try:
        ledger.replay(await holdings.transactions(conn, portfolio_id))
    except ledger.InsufficientQuantity as exc:
        raise Invalid(
            str(exc),
            code=ErrorCode.INSUFFICIENT_QUANTITY,
            details={"ticker": exc.ticker, "time": exc.time, "held": exc.held, "sold": exc.sold},
        ) from None


@router.get(
    "/portfolios/{portfolio_id}/holdings",
    summary="Holdings with average cost, unrealized/realized P&L and day change",
)
async def get_holdings(portfolio_id: Id, user: CurrentUser, pool: PoolDep) -> Any:
    """Average cost method, priced at each ticker's latest tick; `day_change` =
    quantity·(price − previous close); totals sum the items."""
    async with pool.acquire() as conn:
        await _portfolio(conn, user, portfolio_id)
        return await holdings.holdings(conn, portfolio_id)


@router.get(
    "/portfolios/{portfolio_id}/value",
    summary="The portfolio's value over a range",
    description="One point per bucket (width chosen as for `/history` with `points`): `time` "
    "the bucket's start, `value` the quantities held at its end × each ticker's last close "
    "by then.",
)
async def get_value(
    portfolio_id: Id, user: CurrentUser, pool: PoolDep, span: RangeDep, points: Points = None
) -> Response:
    wanted = ask(span, points, None, Source.auto)
    async with pool.acquire() as conn:
        await _portfolio(conn, user, portfolio_id)
        return _json(await holdings.value(conn, portfolio_id, wanted))
