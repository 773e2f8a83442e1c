"""`portfolio` events on GET /api/stream?portfolios=… against a real uvicorn, a real ingester
and a real broker: the holdings route's totals at that moment, on a price move and on a
transaction change, at most one per second per portfolio, only for its owner (or an admin),
and a resumed stream starts with the current numbers."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from devstack.broker import Mosquitto
from tests.api_support import Api, expect
from tests.ingest_support import RunningIngester
from tests.market_support import safe_now, walk, write
from tests.stream_support import Reader, stream
from tests.support import publish, wait_until
from tests.test_stream import a_ticker

NUMBERS = ("market_value", "unrealized_pnl", "day_change")


async def portfolio_event(
    reader: Reader, where: Callable[[dict[str, Any]], bool] = lambda _: True, timeout: float = 20
) -> dict[str, Any]:
    """The next `portfolio` event that `where` accepts; such frames carry no `id`."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await reader.event(timeout)
            if frame.event == "portfolio":
                assert frame.id is None
                data: dict[str, Any] = frame.json()
                if where(data):
                    return data


async def totals(client: httpx.AsyncClient, pid: int) -> dict[str, float]:
    held = expect(await client.get(f"/api/portfolios/{pid}/holdings"), 200)
    return {key: held["totals"][key] for key in NUMBERS}


def worth(value: float) -> Callable[[dict[str, Any]], bool]:
    return lambda event: bool(event["market_value"] == value)


def numbers(event: dict[str, Any]) -> dict[str, float]:
    return {key: event[key] for key in NUMBERS}


async def seeded(db: asyncpg.Connection) -> str:
    """A stock with ticks since yesterday (so it has a previous close)."""
    now = await safe_now()
    ticker = a_ticker()
    await write(
        db, walk(ticker, now - timedelta(hours=30), now - timedelta(minutes=2), 7, (600, 900))
    )
    return ticker


async def a_portfolio(client: httpx.AsyncClient, ticker: str, quantity: float) -> int:
    pid: int = expect(await client.post("/api/portfolios", json={"name": "Live"}), 201)["id"]
    buy = {"ticker": ticker, "side": "buy", "quantity": quantity, "price": 90.0, "fee": 1.5}
    expect(await client.post(f"/api/portfolios/{pid}/transactions", json=buy), 201)
    return pid


def tick(broker: Mosquitto, ticker: str, price: float) -> asyncio.Future[int]:
    ms = int(datetime.now(UTC).timestamp() * 1000)
    message = (f"stocks/{ticker}", {"price": price, "ts": ms})
    return asyncio.ensure_future(asyncio.to_thread(publish, broker.url, [message]))


async def test_events_carry_the_holdings_totals(
    api: Api, ingester: RunningIngester, broker: Mosquitto, db: asyncpg.Connection
) -> None:
    ticker = await seeded(db)
    user = await api.register("holder")
    async with api.client(user) as client:
        pid = await a_portfolio(client, ticker, 3)
        async with stream(api.url, user.headers, {"portfolios": str(pid)}) as reader:
            first = await portfolio_event(reader)  # every stream starts with the numbers
            assert first["portfolio_id"] == pid
            assert numbers(first) == await totals(client, pid)
            for price in (123.25, 124.5):
                await tick(broker, ticker, price)
                moved = await portfolio_event(reader, worth(3 * price))
                assert numbers(moved) == await totals(client, pid)
                assert moved["unrealized_pnl"] == 3 * price - (3 * 90.0 + 1.5)
            url = f"/api/portfolios/{pid}/transactions"
            more = {"ticker": ticker, "side": "buy", "quantity": 2, "price": 100.0}
            added = expect(await client.post(url, json=more), 201)
            bought = await portfolio_event(reader, worth(5 * 124.5))
            assert numbers(bought) == await totals(client, pid)
            expect(await client.delete(f"{url}/{added['id']}"), 204)
            removed = await portfolio_event(reader, worth(3 * 124.5))
            assert numbers(removed) == await totals(client, pid)
            # Deleted: nothing more about it, whatever its tickers do.
            expect(await client.delete(f"/api/portfolios/{pid}"), 204)
            await tick(broker, ticker, 130.0)
            with pytest.raises(TimeoutError):
                await portfolio_event(reader, timeout=3)


async def test_at_most_one_event_per_second_under_a_burst(
    api: Api, ingester: RunningIngester, broker: Mosquitto, db: asyncpg.Connection
) -> None:
    """Ticks every ~20 ms for 4 s (published 10 at a time): events at least a second apart,
    and the last one carries the last price (throttled, never lost)."""
    ticker = await seeded(db)
    user = await api.register("burst")
    async with api.client(user) as client:
        pid = await a_portfolio(client, ticker, 2)
        async with stream(api.url, user.headers, {"portfolios": str(pid)}) as reader:
            await portfolio_event(reader)
            prices = [100.0 + i / 8 for i in range(200)]
            received: list[tuple[float, dict[str, Any]]] = []

            async def paced() -> None:
                """10 ticks every 0.2 s."""
                for i in range(0, len(prices), 10):
                    ms = int(datetime.now(UTC).timestamp() * 1000)
                    part = [
                        (f"stocks/{ticker}", {"price": p, "ts": ms + j})
                        for j, p in enumerate(prices[i : i + 10])
                    ]
                    await asyncio.to_thread(publish, broker.url, part)
                    await asyncio.sleep(0.2)

            sending = asyncio.create_task(paced())
            while not received or received[-1][1]["market_value"] != 2 * prices[-1]:
                event = await portfolio_event(reader)
                received.append((time.monotonic(), event))
            await sending
        assert numbers(received[-1][1]) == await totals(client, pid)
    assert len(received) >= 3  # it did stream during the burst
    stamps = [datetime.fromisoformat(e["time"].replace("Z", "+00:00")) for _, e in received]
    assert all(b - a >= timedelta(seconds=0.99) for a, b in itertools.pairwise(stamps))
    arrivals = [t for t, _ in received]
    # Arrival spacing can shrink by the computation's jitter, never to a second event at once.
    assert all(b - a >= 0.25 for a, b in itertools.pairwise(arrivals))


async def test_only_the_owner_or_an_admin_subscribes(api: Api, db: asyncpg.Connection) -> None:
    ticker = await seeded(db)
    alice, bob = await api.register("alice"), await api.register("bob")
    async with api.client(alice) as client:
        pid = await a_portfolio(client, ticker, 1)
        mine = await totals(client, pid)
    async with api.client(bob) as client:
        own = expect(await client.post("/api/portfolios", json={"name": "B"}), 201)["id"]
        for wanted in (
            str(pid),
            f"{own},{pid}",
            "abc",
            "-1",
            "0",
            "1.5",
            str(2**63),
            "9" * 40,
            "1\x00",
            "٣",  # an Arabic-Indic digit: isdigit() but no id
        ):
            refused = await client.get("/api/stream", params={"portfolios": wanted})
            expect(refused, 404, "portfolio_not_found")
        # The filter counts toward the stream's cap, with tickers and devices.
        many = {"portfolios": ",".join(str(i) for i in range(1, 1002))}
        expect(await client.get("/api/stream", params=many), 422, "too_many_subjects")
        mixed = {"portfolios": "1,2", "tickers": ",".join(f"T{i}" for i in range(999))}
        expect(await client.get("/api/stream", params=mixed), 422, "too_many_subjects")
    async with stream(
        api.url, api.admin.headers, {"portfolios": str(pid), "kinds": "portfolio"}
    ) as reader:
        assert numbers(await portfolio_event(reader)) == mine
    # Nothing of Alice's reaches Bob's own streams, filtered or not.
    bob_streams: list[Reader] = []
    async with (
        stream(api.url, bob.headers, {"portfolios": str(own)}) as filtered,
        stream(api.url, bob.headers) as every,
    ):
        bob_streams += [filtered, every]
        first = await portfolio_event(filtered)
        assert first["portfolio_id"] == own and first["market_value"] == 0
        async with api.client(alice) as client:
            more = {"ticker": ticker, "side": "buy", "quantity": 1, "price": 1.0}
            expect(await client.post(f"/api/portfolios/{pid}/transactions", json=more), 201)
        for reader in bob_streams:
            try:
                event = await portfolio_event(reader, timeout=2)
            except TimeoutError:
                continue
            raise AssertionError(f"Bob received {event}")


async def test_a_resumed_stream_gets_the_missed_journal_events_and_current_numbers(
    api: Api, ingester: RunningIngester, broker: Mosquitto, db: asyncpg.Connection
) -> None:
    """Portfolio events are not replayed (they carry no id): the backlog replays the journal's
    missed price events, then the stream starts with the portfolio's current numbers."""
    ticker = await seeded(db)
    user = await api.register("resume")
    params = {"portfolios": "", "tickers": ticker}
    async with api.client(user) as client:
        pid = await a_portfolio(client, ticker, 4)
        params["portfolios"] = str(pid)
        async with stream(api.url, user.headers, params) as reader:
            await portfolio_event(reader)
            await tick(broker, ticker, 111.0)
            seen = await reader.event()
            while seen.event != "price":
                seen = await reader.event()
            await portfolio_event(reader, worth(4 * 111.0))
            last = reader.last_id
            assert last == seen.id  # the portfolio event did not move the resume point
        await tick(broker, ticker, 112.0)
        await _committed(db, ticker, 112.0)
        assert last is not None
        async with stream(api.url, user.headers, params, last_id=last) as resumed:
            missed = await resumed.event()
            assert missed.event == "price" and missed.id is not None and missed.id > last
            assert [t["price"] for t in missed.json()["ticks"]] == [112.0]
            current = await portfolio_event(resumed)
            assert current["market_value"] == 4 * 112.0
            assert numbers(current) == await totals(client, pid)


async def _committed(db: asyncpg.Connection, ticker: str, price: float) -> None:
    async def stored() -> bool:
        query = "SELECT true FROM prices WHERE ticker = $1 AND price = $2"
        return bool(await db.fetchval(query, ticker, price))

    await wait_until(f"{ticker} at {price} committed", stored)
