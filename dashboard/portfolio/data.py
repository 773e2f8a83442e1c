"""What the portfolio page reads and writes through the API, as the logged-in user."""

from __future__ import annotations

from typing import Any

from dashboard import client


async def portfolios() -> list[dict[str, Any]]:
    body = await client.get("/api/portfolios", limit=500)
    items: list[dict[str, Any]] = body["items"]
    return items


async def create(name: str) -> dict[str, Any]:
    made: dict[str, Any] = await client.request("POST", "/api/portfolios", json={"name": name})
    return made


async def rename(portfolio_id: int, name: str) -> None:
    await client.request("PATCH", f"/api/portfolios/{portfolio_id}", json={"name": name})


async def delete(portfolio_id: int) -> None:
    await client.request("DELETE", f"/api/portfolios/{portfolio_id}")


async def holdings(portfolio_id: int) -> dict[str, Any]:
    body: dict[str, Any] = await client.get(f"/api/portfolios/{portfolio_id}/holdings")
    return body


async def transactions(portfolio_id: int) -> list[dict[str, Any]]:
    body = await client.get(f"/api/portfolios/{portfolio_id}/transactions")
    items: list[dict[str, Any]] = body["items"]
    return items


async def add_transaction(portfolio_id: int, body: dict[str, Any]) -> None:
    await client.request("POST", f"/api/portfolios/{portfolio_id}/transactions", json=body)


async def delete_transaction(portfolio_id: int, transaction_id: int) -> None:
    path = f"/api/portfolios/{portfolio_id}/transactions/{transaction_id}"
    await client.request("DELETE", path)


async def value(portfolio_id: int, start: str, end: str, points: int) -> dict[str, Any]:
    body: dict[str, Any] = await client.get(
        f"/api/portfolios/{portfolio_id}/value", start=start, end=end, points=points
    )
    return body


async def tickers() -> list[str]:
    body = await client.get("/api/stocks", limit=500)
    return [item["ticker"] for item in body["items"]]
