"""`/health` on a real uvicorn server, against the real database and broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from api.main import create_app
from api.settings import ApiSettings
from tests.conftest import RunningIngester
from tests.support import publish, wait_until
from tickwire.broker import Mosquitto, free_port


@pytest.fixture
async def api_url(database_url: str, broker: Mosquitto) -> AsyncIterator[str]:
    port = free_port()
    settings = ApiSettings(database_url=database_url, mqtt_url=broker.url, http_port=port)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def test_health_reports_database_broker_and_ingest_lag(
    api_url: str, broker: Mosquitto, ingester: RunningIngester
) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        body = (await client.get("/health")).json()
        assert body["status"] == "ok"
        assert body["database"]["ok"] and body["database"]["backend"] in ("postgres", "timescaledb")
        assert body["broker"]["ok"]
        assert body["ingest"]["lag_s"] is None  # nothing committed yet

        publish(broker.url, [("stocks/HLTH", {"price": 1.0})])

        async def committed() -> bool:
            ingest = (await client.get("/health")).json()["ingest"]
            return bool(ingest["committed_rows"] == 1 and 0 <= ingest["lag_s"] < 30)

        await wait_until(committed)

        broker.stop()
        response = await client.get("/health")
        assert response.status_code == 503
        assert response.json()["broker"]["ok"] is False
        broker.start()
