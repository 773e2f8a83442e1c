"""What `make up` runs, inside a test: the services of the fixtures plus the simulator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from devstack.broker import Mosquitto
from simulator.app import run as run_simulator
from simulator.settings import SimulatorSettings
from tests.api_support import Api
from tests.ingest_support import RunningIngester
from tests.support import unique


@dataclass
class Stack:
    """What `make up` runs, in this test: database, broker, ingester, API + dashboard and the
    simulator's demo fleet (3 sensors at 1 reading/s, 4 tickers at 2 ticks/s)."""

    api: Api
    ingester: RunningIngester
    broker: Mosquitto
    database_url: str


@contextlib.asynccontextmanager
async def simulated_stack(
    database_url: str, broker: Mosquitto, api: Api, ingester: RunningIngester, **fleet: Any
) -> AsyncIterator[Stack]:
    """The running services plus the simulator in this event loop; `fleet`: its sim_* settings
    over a seeded, loss-free default."""
    values: dict[str, Any] = {"sim_seed": 7, "sim_drop_every": 0, "sim_prefix": unique("sim")}
    settings = SimulatorSettings(
        database_url=database_url,
        mqtt_url=broker.url,
        data_dir=api.settings.data_dir,  # its store-and-forward buffer: the test's, not the repo's
        **(values | fleet),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_simulator(settings, stop), name="simulator")
    try:
        yield Stack(api, ingester, broker, database_url)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
