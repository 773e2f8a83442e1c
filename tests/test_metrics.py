"""`/metrics`: the ingester's counters, dead letters and devices, in Prometheus text; behind a
bearer token when `TICKWIRE_METRICS_TOKEN` is set."""

from __future__ import annotations

import secrets
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from api.settings import ApiSettings
from devstack.broker import Mosquitto
from tests.api_support import Api, expect, running_api, samples
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
        await client.get("/api/devices/nope")
        await client.post("/auth/jwt/login", data={"username": "no@example.com", "password": "x"})
        again = samples((await client.get("/metrics")).text)
        # Routes by the path as served: with their router's prefix, the two logins apart.
        for route, method, status in [
            ("/metrics", "GET", "200"),
            ("/api/devices/{device_id}", "GET", "401"),
            ("/auth/jwt/login", "POST", "400"),
        ]:
            key = (
                "tickwire_api_requests_total",
                (("method", method), ("route", route), ("status", status)),
            )
            assert again.get(key, 0) >= 1, (route, sorted(k for k in again if "requests" in k[0]))


async def test_a_metrics_token_is_required_once_set(
    database_url: str, broker: Mosquitto, tmp_path: Path
) -> None:
    token = secrets.token_urlsafe(32)
    tried = [
        httpx.Headers(),
        httpx.Headers({"Authorization": "Bearer " + token[:-1]}),  # all but one character
        httpx.Headers({"Authorization": "Bearer " + token + "x"}),
        httpx.Headers({"Authorization": "Basic " + token}),
        httpx.Headers({"Authorization": "Bearer " + "x" * 8000}),
        httpx.Headers({b"Authorization": b"Bearer \xe9\xff"}),  # Latin-1 no token is made of
    ]
    async with (
        running_api(database_url, broker.url, tmp_path, metrics_token=token) as api,
        api.client() as client,
    ):
        # A login token is not the metrics token, even the admin's.
        for headers in [*tried, httpx.Headers(api.admin.headers)]:
            refused = await client.get("/metrics", headers=headers)
            expect(refused, 401, "unauthorized")
            assert refused.headers["WWW-Authenticate"] == "Bearer"
        scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200, scraped.text
        assert "tickwire_api_requests_total" in scraped.text
        # The rest of the API does not take it.
        other = await client.get("/api/devices", headers={"Authorization": f"Bearer {token}"})
        expect(other, 401)


def test_a_placeholder_or_short_metrics_token_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for value in ("secret", "change-me", "x" * 31):
        monkeypatch.setenv("TICKWIRE_METRICS_TOKEN", value)
        with pytest.raises(ValidationError, match="TICKWIRE_METRICS_TOKEN"):
            ApiSettings()
    monkeypatch.setenv("TICKWIRE_METRICS_TOKEN", "")  # as `.env.example` and compose leave it
    assert ApiSettings().metrics_token is None
