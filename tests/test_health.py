"""`/health` on a real uvicorn server, against the real database and broker."""

from __future__ import annotations

from devstack.broker import Mosquitto
from tests.api_support import Api
from tests.ingest_support import RunningIngester
from tests.support import publish, wait_until


async def test_health_reports_database_broker_and_ingest_lag(
    api: Api, broker: Mosquitto, ingester: RunningIngester
) -> None:
    async with api.client() as client:
        body = (await client.get("/health")).json()
        assert body["status"] == "ok"
        assert body["database"]["ok"] and body["database"]["backend"] in ("postgres", "timescaledb")
        assert body["broker"]["ok"]
        assert body["ingest"]["lag_s"] is None  # nothing committed yet

        publish(broker.url, [("stocks/HLTH", {"price": 1.0})])

        async def committed() -> bool:
            ingest = (await client.get("/health")).json()["ingest"]
            return bool(ingest["committed_rows"] == 1 and 0 <= ingest["lag_s"] < 30)

        await wait_until("/health reporting the committed row", committed)

        broker.stop()
        response = await client.get("/health")
        assert response.status_code == 503
        assert response.json()["broker"]["ok"] is False
        broker.start()
