"""The ingester as tests run it: in this event loop, against the test's database and broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from devstack.broker import Mosquitto
from ingest.app import run as run_ingester
from ingest.settings import IngestSettings
from ingest.stats import Stats
from tests.support import unique


@dataclass
class RunningIngester:
    settings: IngestSettings
    stop: asyncio.Event
    task: asyncio.Task[Stats]

    async def close(self) -> Stats:
        self.stop.set()
        return await asyncio.wait_for(self.task, 30)


def ingest_settings(database_url: str, broker: Mosquitto, **overrides: object) -> IngestSettings:
    values: dict[str, object] = {
        "database_url": database_url,
        "mqtt_url": broker.url,
        "ingest_client_id": unique("ingest"),
    }
    values.update(overrides)
    return IngestSettings(**values)  # type: ignore[arg-type]


async def start_ingester(settings: IngestSettings) -> RunningIngester:
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_ingester(settings, stop, ready))
    waiter = asyncio.ensure_future(ready.wait())
    await asyncio.wait([task, waiter], timeout=20, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()
    assert ready.is_set(), "ingester did not subscribe in time"
    return RunningIngester(settings, stop, task)


@contextlib.asynccontextmanager
async def ingesting(settings: IngestSettings) -> AsyncIterator[RunningIngester]:
    """An ingester for the `async with` block, closed after it unless it ended already."""
    running = await start_ingester(settings)
    try:
        yield running
    finally:
        if not running.task.done():
            await running.close()
