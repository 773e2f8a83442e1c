"""`make up`'s demo accounts beyond the admin, and waiting for the API before what needs it.

- A demo analyst (`analyst@example.com`, not an admin), whose password is generated once and
  kept in the data dir like the admin's, printed with it: the non-admin view is one login away.
  Once the simulator has registered its fleet, the analyst is given `ANALYST_DEVICES` of its
  sensors (when they own none), so that view has devices of its own.
- A demo portfolio for the admin (`DEMO_PORTFOLIO`): once the simulator's tickers have
  prices, a few buys and a sell over them, at prices near the market's, so the Portfolio page
  has holdings whose P&L moves. Made once: a later start finds it (by owner and name) and
  leaves it as it is.
- `answering(url)`: the banner and the simulator wait until the API answers `/health`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx

log = logging.getLogger("tickwire")
logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request in the stack's log

ANALYST_EMAIL = "analyst@example.com"
ANALYST_DEVICES = 3
"""How many of the simulator's sensors the analyst owns."""
DEMO_PORTFOLIO: Final = "Demo portfolio"
DEMO_TICKERS: Final = ("AAPL", "MSFT", "NVDA", "TSLA")
"""The simulator's tickers the demo portfolio prefers (any others with prices otherwise)."""
#: (quantity, price as a share of the market's, minutes ago) of the buys, in ticker order.
_BUYS: Final = ((40, 0.96, 4), (25, 1.03, 3), (60, 0.98, 2), (15, 0.99, 2))


@dataclass
class Analyst:
    email: str
    password: str

    def __str__(self) -> str:
        return (
            f"{self.email} / {self.password}   (not an admin; owns {ANALYST_DEVICES} demo devices)"
        )


async def ensure_analyst(database_url: str, data_dir: Path) -> Analyst:
    from api.admin import ensure_user  # the API's own account logic
    from api.settings import ApiSettings

    settings = ApiSettings(database_url=database_url, data_dir=data_dir)
    return Analyst(ANALYST_EMAIL, await ensure_user(settings, ANALYST_EMAIL, "analyst-password"))


async def answering(url: str, stop: asyncio.Event, timeout_s: float = 120.0) -> bool:
    """Whether `url` (the API's `/health`) answered with any HTTP status before `timeout_s`
    (False also when the stack is stopping)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=5) as client:
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                await client.get(url)
            except httpx.TransportError:
                await asyncio.sleep(0.3)
                continue
            return True
    return False


async def hand_devices(
    api_url: str, admin: tuple[str, str], analyst: str, stop: asyncio.Event
) -> None:
    """Give the analyst `ANALYST_DEVICES` of the simulator's sensors once they exist (it may
    take the simulator a while to register them); nothing when they own some already."""
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        login = await client.post(
            "/auth/jwt/login", data={"username": admin[0], "password": admin[1]}
        )
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        users = (await client.get("/api/admin/users", params={"email": analyst})).json()["items"]
        owner = next(user["id"] for user in users if user["email"] == analyst)
        for _ in range(120):
            devices = (await client.get("/api/devices", params={"limit": 1000})).json()["items"]
            if any(device["owner_id"] == owner for device in devices):
                return
            sensors = sorted(d["device_id"] for d in devices if d["kind"] == "sensor")
            if len(sensors) >= ANALYST_DEVICES:
                for device_id in sensors[:ANALYST_DEVICES]:
                    patched = await client.patch(
                        f"/api/devices/{device_id}", json={"owner_id": owner}
                    )
                    patched.raise_for_status()
                log.info("demo analyst %s owns %s", analyst, ", ".join(sensors[:ANALYST_DEVICES]))
                return
            if stop.is_set():
                return
            await asyncio.sleep(1)


async def demo_portfolio(
    api_url: str, admin: tuple[str, str], stop: asyncio.Event, attempts: int = 120
) -> int | None:
    """The admin's `DEMO_PORTFOLIO`: made, once the simulator's tickers have prices (polled
    `attempts` times a second), with buys of up to four tickers and a sell of part of one;
    found, when an earlier start made it (and filled, should that start have stopped before
    its first transaction). Its id, or None when no ticker ever had a price."""
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        login = await client.post(
            "/auth/jwt/login", data={"username": admin[0], "password": admin[1]}
        )
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        pid = await _existing(client)
        if pid is not None:
            made = await client.get(f"/api/portfolios/{pid}/transactions")
            if made.raise_for_status().json()["items"]:
                return pid
        for _ in range(attempts):
            prices = await _priced(client)
            if prices:
                return await _fill(client, prices, pid)
            if stop.is_set():
                break
            await asyncio.sleep(1)
    return None


async def _existing(client: httpx.AsyncClient) -> int | None:
    """The id of the caller's `DEMO_PORTFOLIO`, if there is one (an admin lists everyone's)."""
    me = (await client.get("/users/me")).raise_for_status().json()["id"]
    found = await client.get("/api/portfolios", params={"limit": 1000})
    for portfolio in found.raise_for_status().json()["items"]:
        if portfolio["owner_id"] == me and portfolio["name"] == DEMO_PORTFOLIO:
            return int(portfolio["id"])
    return None


async def _priced(client: httpx.AsyncClient) -> dict[str, float]:
    """Four tickers (`DEMO_TICKERS` first) and their latest prices, once that many have one
    (fewer when there are fewer stocks); {} until then."""
    stocks = await client.get("/api/stocks", params={"limit": 1000})
    tickers = {stock["ticker"] for stock in stocks.raise_for_status().json()["items"]}
    preferred = [t for t in DEMO_TICKERS if t in tickers]
    ranked = (preferred + sorted(tickers - set(preferred)))[:20]
    if not ranked:
        return {}
    quotes = await client.get("/api/quotes", params={"tickers": ",".join(ranked)})
    items = quotes.raise_for_status().json()["items"]
    by_ticker = {q["ticker"]: q["price"] for q in items}
    priced = {t: float(by_ticker[t]) for t in ranked if by_ticker.get(t) is not None}
    wanted = min(len(_BUYS), len(ranked))
    return dict(list(priced.items())[:wanted]) if len(priced) >= wanted else {}


async def _fill(client: httpx.AsyncClient, prices: dict[str, float], pid: int | None) -> int:
    """The buys and a sell of a third of the third ticker's, in portfolio `pid` (None: a new
    one)."""
    if pid is None:
        created = await client.post("/api/portfolios", json={"name": DEMO_PORTFOLIO})
        pid = int(created.raise_for_status().json()["id"])
    now = datetime.now(UTC)
    held: dict[str, int] = {}
    for (ticker, price), (quantity, share, minutes) in zip(prices.items(), _BUYS, strict=False):
        at = now - timedelta(minutes=minutes)
        buy = {"ticker": ticker, "side": "buy", "quantity": quantity}
        await _trade(client, pid, buy | {"price": round(price * share, 2), "time": at.isoformat()})
        held[ticker] = quantity
    ticker, quantity = list(held.items())[min(2, len(held) - 1)]
    sell = {"ticker": ticker, "side": "sell", "quantity": quantity // 3, "price": prices[ticker]}
    await _trade(client, pid, sell | {"time": (now - timedelta(minutes=1)).isoformat()})
    log.info("demo portfolio %d for the admin: %s", pid, ", ".join(held))
    return pid


async def _trade(client: httpx.AsyncClient, pid: int, body: dict[str, Any]) -> None:
    (await client.post(f"/api/portfolios/{pid}/transactions", json=body)).raise_for_status()


_TASKS: set[asyncio.Task[Any]] = set()


def _in_background(work: Coroutine[Any, Any, Any], failed: str) -> None:
    """`work` as a task; its failure is logged (`failed`: what did not happen), never stops
    the stack."""
    task = asyncio.create_task(work)
    _TASKS.add(task)

    def done(task: asyncio.Task[Any]) -> None:
        _TASKS.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s: %s", failed, task.exception())

    task.add_done_callback(done)


def hand_devices_later(
    api_url: str, admin: tuple[str, str], analyst: Analyst, stop: asyncio.Event
) -> None:
    """`hand_devices` in the background (a failure is logged, never stops the stack)."""
    work = hand_devices(api_url, admin, analyst.email, stop)
    _in_background(work, "the demo analyst's devices were not handed over")


def demo_portfolio_later(api_url: str, admin: tuple[str, str], stop: asyncio.Event) -> None:
    """`demo_portfolio` in the background (a failure is logged, never stops the stack)."""
    _in_background(demo_portfolio(api_url, admin, stop), "the demo portfolio was not made")
