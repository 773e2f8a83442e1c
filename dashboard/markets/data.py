"""What the markets page reads from the API: the watchlist, the stocks, candles for a range."""

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


async def tape(tickers: list[str], start: str, end: str) -> dict[str, Any]:
    """Per ticker: the range's first price, the last one, and a sparkline of closes."""
    answers = await asyncio.gather(
        *(history(t, start, end, SPARK_POINTS) for t in tickers), return_exceptions=True
    )
    items: dict[str, Any] = {}
    for ticker, answer in zip(tickers, answers, strict=True):
        if isinstance(answer, BaseException):
            items[ticker] = {"first": None, "last": None, "spark": []}
            continue
        candles = answer["candles"]
        items[ticker] = {
            "first": candles[0]["open"] if candles else None,
            "last": candles[-1]["close"] if candles else None,
            "spark": [[c["time"], c["close"]] for c in candles],
        }
    return items


def export_links(ticker: str, start: str, end: str) -> list[tuple[str, str]]:
    base = {"ticker": ticker, "start": start, "end": end}
    return [
        (fmt.upper(), "/api/export/prices?" + urlencode(base | {"format": fmt}))
        for fmt in ("csv", "json", "xml")
    ]
