"""/api routes of market analytics: quotes, indicators as data, the market scanner."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from api.access import STOCK, readable_stock, require_readable
from api.deps import CurrentUser, PoolDep, RangeDep, SessionDep
from api.error_codes import ErrorCode
from api.errors import Invalid
from api.history import candles
from api.history.interval import label
from api.history.resolution import Ask
from api.history.timerange import EARLIEST
from api.market import quotes as quote_data
from api.market import scanner
from api.models import WatchlistEntry
from api.routes.history import DetailDep, _json
from api.stream.filters import split
from tickwire import indicators, timegrid

router = APIRouter()
MAX_TICKERS = 500
MAX_NAMES = 20


@router.get(
    "/quotes",
    summary="Quotes: latest price, the UTC day so far, previous close and change",
    description=(
        "`tickers` comma-separated and/or repeated (default: the caller's watchlist), at most "
        f"{MAX_TICKERS}; each must exist (else 404 `stock_not_found`). `price`/`time`: the "
        "latest tick; `open/high/low/volume`: the current UTC day so far (null before its "
        "first tick); `prev_close`: the last tick before today 00:00 UTC (null if none); "
        "`change = price − prev_close`, `change_pct = 100·change/prev_close`."
    ),
)
async def get_quotes(
    user: CurrentUser,
    pool: PoolDep,
    session: SessionDep,
    tickers: Annotated[list[str] | None, Query(description="default: the watchlist")] = None,
) -> dict[str, Any]:
    names = sorted(split(tickers))
    if tickers is None:
        rows = await session.scalars(
            select(WatchlistEntry.ticker)
            .where(WatchlistEntry.user_id == user.id)
            .order_by(WatchlistEntry.ticker)
        )
        names = list(rows)
    if len(names) > MAX_TICKERS:
        raise Invalid(f"at most {MAX_TICKERS} tickers", code=ErrorCode.TOO_MANY_SUBJECTS)
    async with pool.acquire() as conn:
        await require_readable(conn, user, STOCK, names)
        return {"items": await quote_data.quotes(conn, names)}


@router.get(
    "/stocks/{ticker}/indicators",
    summary="Indicators on the candles of a stock: TA-Lib's values",
    description=(
        "`names` comma-separated and/or repeated: `sma:N`, `ema:N`, `rsi:N`, `macd:F:S:G` "
        "(parts `macd`, `macd_signal`, `macd_hist`), `bbands:N:K` (`bb_upper`, `bb_middle`, "
        f"`bb_lower`), `atr:N`, `obv`, `vwap`; N at most {indicators.MAX_PERIOD} (else 422 "
        "`invalid_indicator`). Candles as in `/history` (same range, `points` or `interval`); "
        "the candle holding `start` is whole. Values equal TA-Lib's over the full stored "
        "history of that interval (earlier candles are read to warm up), null where undefined; "
        "`obv` starts at the first returned candle, `vwap` ((H+L+C)/3 weighted by volume) "
        "restarts each UTC day. A series is keyed by its name as asked, parts as "
        "`macd:12:26:9.macd_signal`."
    ),
)
async def get_indicators(
    ticker: str,
    user: CurrentUser,
    pool: PoolDep,
    detail: DetailDep,
    span: RangeDep,
    names: Annotated[list[str] | None, Query(description="the indicators")] = None,
) -> Response:
    specs = _specs(names)
    wanted = detail.ask(span)
    width = wanted.width
    first_bucket = timegrid.floor(wanted.start, width)
    warm = first_bucket - max(s.warmup for s in specs) * width
    if any(s.kind == "vwap" for s in specs):
        warm = min(warm, quote_data.day_start(first_bucket))
    warm = max(timegrid.floor(max(warm, EARLIEST), width), EARLIEST)
    ask = Ask(warm, wanted.end, width, None, wanted.raw_only)
    async with pool.acquire() as conn:
        await readable_stock(conn, user, ticker)
        _, rows = await candles.candles(conn, ticker, ask)
    bars = indicators.Bars.of(rows)
    first = next((i for i, t in enumerate(bars.time) if t >= first_bucket), len(bars.time))
    series: dict[str, list[float | None]] = {}
    for spec in specs:
        series |= indicators.compute(spec, bars, first)
    body = {"ticker": ticker, "interval": label(width), "time": bars.time[first:]}
    return _json(body | {"series": series})


def _specs(names: list[str] | None) -> list[indicators.Spec]:
    asked = list(dict.fromkeys(n.strip() for v in names or () for n in v.split(",") if n.strip()))
    if not asked or len(asked) > MAX_NAMES:
        raise Invalid(f"names: 1 to {MAX_NAMES} indicators", code=ErrorCode.INVALID_INDICATOR)
    try:
        return [indicators.parse(name) for name in asked]
    except indicators.IndicatorError as exc:
        raise Invalid(str(exc), code=ErrorCode.INVALID_INDICATOR) from None


@router.get(
    "/market/scanner",
    summary="Market scanner: gainers, losers, most active, unusual volume, breakouts",
    description=(
        "Over the window W (`5m`, `1h`, `24h`, `7d`) ending now, every readable ticker with a "
        "tick: `change_pct` of the latest price against the last tick at or before now − W; "
        "`volume` in [now − W, now); `unusual_volume`: volume ≥ 2× the mean of the 20 previous "
        "windows (`volume_ratio`); `breakouts`: the latest price above the highest high "
        "(`direction` `up`) or below the lowest low (`down`) of those 20 windows. Each list "
        "holds at most `limit` items."
    ),
)
async def get_scanner(
    user: CurrentUser,
    pool: PoolDep,
    window: Annotated[str, Query(description="5m, 1h, 24h or 7d")] = "1h",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    width = scanner.WINDOWS.get(window)
    if width is None:
        raise Invalid(
            f"window must be one of {', '.join(scanner.WINDOWS)}", code=ErrorCode.INVALID_WINDOW
        )
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        lists = await scanner.scan(conn, width, now, limit)
    return {"window": window, "time": now} | lists
