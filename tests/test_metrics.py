"""`/metrics`: the ingester's counters, dead letters and devices, in Prometheus text."""

from __future__ import annotations

import asyncpg

from devstack.broker import Mosquitto
from tests.api_support import Api, samples
from tests.ingest_support import RunningIngester
from tests.support import publish, wait_until


async def test_metrics_expose_ingest_counters_dead_letters_and_requests(
    api: Api, broker: Mosquitto, ingester: RunningIngester, db: asyncpg.Connection
) -> None:
    publish(
        broker.url,
        [
            ("devices/m-1/telemetry", {"ts": 1_714_041_600_000, "temperature": 20.5}),
            ("devices/m-1/telemetry", {"ts": 1_714_041_600_000, "temperature": 20.5}),
            ("stocks/MTR", b"not json"),
        ],
    )

    async def committed() -> bool:
        return bool(await db.fetchval("SELECT coalesce(sum(received), 0) FROM ingest_status") == 3)

    await wait_until("3 messages received by the ingester", committed)
    instance = ingester.settings.ingest_instance
    async with api.client() as client:
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        found = samples(response.text)
        label = (("instance", instance),)
        assert found[("tickwire_ingest_received_total", label)] == 3
        assert found[("tickwire_ingest_committed_rows_total", label)] == 1
        assert found[("tickwire_ingest_duplicates_total", label)] == 1
        assert found[("tickwire_ingest_dead_lettered_total", label)] == 1
        assert found[("tickwire_ingest_retained_ignored_total", label)] == 0
        assert found[("tickwire_dead_letters", (("reason", "not_json"),))] == 1
        assert found[("tickwire_devices", (("status", "ONLINE"),))] == 1
        again = samples((await client.get("/metrics")).text)
        key = (
            "tickwire_api_requests_total",
            (("method", "GET"), ("route", "/metrics"), ("status", "200")),
        )
        assert again[key] >= 1
