"""The simulator's market has the structure the scanner looks for: opening gaps at each UTC
day's start, volume bursts and breakouts, so every scanner list fills within minutes."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from datetime import UTC, datetime, timedelta

import asyncpg

from simulator.fleet import build_fleet
from simulator.settings import SimulatorSettings
from simulator.walk import DAY_MS, TradingWalk
from tests.api_support import Api, expect
from tests.market_support import Tick, safe_now, write

LISTS = ("gainers", "losers", "most_active", "unusual_volume", "breakouts")


def test_a_day_opens_with_a_gap() -> None:
    walk = TradingWalk(100.0, random.Random(7))
    gaps, steps = [], []
    for day in range(300):
        midnight = (20_000 + day) * DAY_MS
        before = [walk.tick(midnight - 2000 + 500 * i)[0] for i in range(4)]
        opened = walk.tick(midnight)[0]
        gaps.append(math.log(opened / before[-1]))
        steps += [math.log(b / a) for a, b in itertools.pairwise(before)]
    assert 0.01 < statistics.pstdev(gaps) < 0.04  # the opening gap, about 2 %
    assert statistics.pstdev(steps) < 0.002  # half a second apart within a day


def test_volume_follows_the_day_and_bursts() -> None:
    walk = TradingWalk(50.0, random.Random(11), mean_volume=100)
    start = 30_000 * DAY_MS
    volumes = [walk.tick(start + 1000 * s)[1] for s in range(86_400)]
    by_hour = [sum(volumes[h * 3600 : (h + 1) * 3600]) for h in range(24)]
    assert min(by_hour[0], by_hour[23]) > statistics.median(by_hour[8:16])
    minutes = [sum(volumes[m * 60 : (m + 1) * 60]) for m in range(1440)]
    assert max(minutes) > 10 * statistics.median(minutes)  # bursts


def simulated_ticks(end: datetime, minutes: int, seed: int) -> list[Tick]:
    """The demo feed (8 tickers, a round every 0.5 s) run over the `minutes` before `end`."""
    settings = SimulatorSettings(sim_devices=0, sim_tickers=8)
    start_ms = int((end - timedelta(minutes=minutes)).timestamp() * 1000)
    feed = build_fleet(settings, seed, start_ms).feed
    assert feed is not None
    ticks: list[Tick] = []
    for step in range(minutes * 120):
        for message in feed.emit(start_ms + 500 * step):
            p = message.payload
            at = datetime.fromtimestamp(p["ts"] / 1000, UTC)
            ticks.append((at, p["ticker"], p["price"], float(p["volume"]), ""))
    return ticks


async def test_every_scanner_list_fills_within_minutes(api: Api, db: asyncpg.Connection) -> None:
    now = await safe_now()
    await write(db, simulated_ticks(now, 15, seed=2))
    bob = await api.register("bob")
    async with api.client(bob) as client:
        body = expect(await client.get("/api/market/scanner", params={"window": "5m"}), 200)
    assert body["overview"]["scanned"] == 8
    for name in LISTS:
        assert body[name], (name, body)
    directions = {item["direction"] for item in body["breakouts"]}
    assert directions <= {"up", "down"}
    assert all(item["volume_ratio"] >= 2 for item in body["unusual_volume"])
