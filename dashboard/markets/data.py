"""What the markets page reads from the API: the watchlist, the stocks, quotes, candles and
indicators for a range."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from dashboard import client

#: Candles per chart: about 4 px each on a ~1300 px wide chart, the narrowest a candle stays
#: readable at (and a 5 minute range still in 1 s candles); the API picks the finest bucket
#: giving at most this many over the range.
CHART_POINTS = 320
SPARK_POINTS = 60


async def watchlist() -> list[dict[str, Any]]:
    body = await client.get("/api/watchlist", limit=200)
    items: list[dict[str, Any]] = body["items"]
    return items


async def stocks() -> list[dict[str, Any]]:
    body = await client.get("/api/stocks", limit=500)
    items: list[dict[str, Any]] = body["items"]
    return items


async def history(ticker: str, start: str, end: str, points: int) -> dict[str, Any]:
    body: dict[str, Any] = await client.get(
        f"/api/stocks/{ticker}/history", start=start, end=end, points=points
    )
    return body


async def indicators(
    ticker: str, start: str, end: str, points: int, names: tuple[str, ...]
) -> dict[str, Any]:
    """`names` on the candles `history` gives for the same range and points (one call)."""
    body: dict[str, Any] = await client.get(
        f"/api/stocks/{ticker}/indicators",
        names=",".join(names),
        start=start,
        end=end,
        points=points,
    )
    return body


async def chart(
    ticker: str, start: str, end: str, names: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any] | None, str | None]:
    """The chart's candles and their indicators, asked at once: (history, indicators or None,
    why there are none). ApiFailed when the candles cannot be read."""

    async def series() -> tuple[dict[str, Any] | None, str | None]:
        try:
            return await indicators(ticker, start, end, CHART_POINTS, names), None
        except client.ApiFailed as failed:
            return None, failed.message

    body, (found, why) = await asyncio.gather(history(ticker, start, end, CHART_POINTS), series())
    return body, found, why


async def quotes() -> dict[str, dict[str, Any]]:
    """The watchlist's quotes (`GET /api/quotes`, one call), per ticker."""
    body = await client.get("/api/quotes")
    return {q["ticker"]: q for q in body["items"]}


async def tape(tickers: list[str], start: str, end: str) -> dict[str, Any]:
    """Per ticker: the quote's last price and previous close (the browser computes the change
    from them, again on every live tick) and a sparkline of the range's closes."""
    quoted, *answers = await asyncio.gather(
        quotes(), *(history(t, start, end, SPARK_POINTS) for t in tickers), return_exceptions=True
    )
    if isinstance(quoted, BaseException) and not isinstance(quoted, client.ApiFailed):
        raise quoted
    # No quotes (the API refused them): the tiles show the range's last close, no change.
    quotes_by = {} if isinstance(quoted, BaseException) else quoted
    items: dict[str, Any] = {}
    for ticker, answer in zip(tickers, answers, strict=True):
        quote = quotes_by.get(ticker) or {}
        candles = [] if isinstance(answer, BaseException) else answer["candles"]
        last = candles[-1]["close"] if candles else None
        items[ticker] = {
            "last": quote.get("price", last),
            "prev_close": quote.get("prev_close"),
            "spark": [[c["time"], c["close"]] for c in candles],
        }
    return items


def export_links(ticker: str, start: str, end: str) -> list[tuple[str, str]]:
    base = {"ticker": ticker, "start": start, "end": end}
    return [
        (fmt.upper(), "/api/export/prices?" + urlencode(base | {"format": fmt}))
        for fmt in ("csv", "json", "xml")
    ]
