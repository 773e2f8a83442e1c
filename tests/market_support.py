"""Seeded markets for the market analytics tests: ticks written as the ingester writes them
(rollups maintained), and a "now" safely inside one UTC day."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import asyncpg

from ingest.writer import Writer

Tick = tuple[datetime, str, float, float | None, str]
#: A test reading "today" keeps this far from a UTC midnight (the quote's day boundary).
MIDNIGHT_MARGIN = timedelta(minutes=3)


async def safe_now() -> datetime:
    """The current time, after waiting out the minutes either side of a UTC midnight."""
    while True:
        now = datetime.now(UTC)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        if MIDNIGHT_MARGIN < now - midnight < timedelta(days=1) - MIDNIGHT_MARGIN:
            return now
        await asyncio.sleep(5)


async def write(db: asyncpg.Connection, ticks: list[Tick]) -> None:
    """Ticks committed in shuffled batches, tickers registered, rollups merged (ingest's path)."""
    backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    writer = Writer(db, backend, auto_register=True)
    await writer.prepare()
    ticks = ticks[:]
    random.Random(3).shuffle(ticks)
    for part in range(3):
        await writer.backfill(ticks[part::3], [])


def walk(
    ticker: str, start: datetime, end: datetime, seed: int, step_s: tuple[float, float] = (20, 70)
) -> list[Tick]:
    """A random walk of ticks from `start` to before `end`."""
    rng = random.Random(seed)
    ticks: list[Tick] = []
    at, price = start, 100.0 + seed
    while at < end:
        price = round(max(1.0, price + rng.gauss(0, 0.4)), 2)
        volume = None if rng.random() < 0.05 else float(rng.randrange(1, 500))
        ticks.append((at, ticker, price, volume, ""))
        at += timedelta(seconds=rng.uniform(*step_s), microseconds=rng.randrange(1000))
    return ticks
