"""What the markets page reads from the API: the watchlist, the stocks, candles for a range."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode

from dashboard import client

#: Candles per chart: about 4 px each on a ~1300 px wide chart, the narrowest a candle stays
#: readable at (and a 5 minute range still in 1 s candles); the API picks the finest bucket
#: giving at most this many over the range.
CHART_POINTS = 320
SPARK_POINTS = 60


def zoomed(relayout: dict[str, Any] | None) -> tuple[str, str] | Literal[False] | None:
    """A relayout's new x range: (start, end) for a zoom/pan, None for a reset (autorange),
    False when the x axis did not change (autosize, y-only zoom…)."""
    if not relayout:
        return False
    if "xaxis.range[0]" in relayout and "xaxis.range[1]" in relayout:
        return _utc(relayout["xaxis.range[0]"]), _utc(relayout["xaxis.range[1]"])
    if isinstance(relayout.get("xaxis.range"), list):
        low, high = relayout["xaxis.range"]
        return _utc(low), _utc(high)
    if relayout.get("xaxis.autorange"):
        return None
    return False


def _utc(value: Any) -> str:
    """Plotly's axis value ("2026-01-02 10:11:12.345", UTC as drawn) as ISO UTC."""
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def selected(search: str | None) -> str | None:
    values = parse_qs((search or "").lstrip("?")).get("ticker")
    return values[0] if values else None


def with_ticker(search: str | None, ticker: str) -> str:
    query = parse_qs((search or "").lstrip("?"))
    query["ticker"] = [ticker]
    return "?" + urlencode(query, doseq=True)


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
