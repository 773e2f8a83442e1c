"""The device page's and the markets page's dashboard models (dashboard/boards/generated.py):
valid for the API's own model and accepted by POST /api/dashboards for real devices, rules and
tickers, odd-but-valid ids included; an id that cannot exist is refused, never turned into a
model."""

from __future__ import annotations

from typing import Any

import pytest

from api.schemas.dashboards import Dashboard, problems
from dashboard.boards import generated
from tests.api_support import Api, expect

ODD_DEVICE_IDS = ["plain", "a:b.c-d_e", "9" + "x" * 63]
ODD_TICKERS = ["ACME", "BRK.B", "A^B", "EUR=X", "Z" * 32]
HOSTILE_IDS = ["a/b", "^GSPC", "../users", "kühl", "", " x", "a\nb", "x" * 65, "$dev"]


def valid(model: dict[str, Any]) -> Dashboard:
    """The model as the API validates it: its fields and what they cannot check alone."""
    parsed = Dashboard.model_validate(model)
    assert problems(parsed) == [], problems(parsed)
    return parsed


async def test_a_device_page_model_is_valid_and_saves_for_real_devices(api: Api) -> None:
    alice = await api.register("alice")
    async with api.client(alice) as client:
        for n, device_id in enumerate(ODD_DEVICE_IDS):
            name = ["Kühlraum ❄ 北", None, "x" * 200][n]
            body = {"device_id": device_id, "name": name, "kind": "sensor"}
            expect(await client.post("/api/devices", json=body), 201)
        own = {"name": "hot", "kind": "THRESHOLD", "device_id": ODD_DEVICE_IDS[1],
               "metric": "temperature", "operator": ">", "threshold": 31.5}  # fmt: skip
        fleet = {"name": "fleet", "kind": "HIGH_TEMP", "threshold": 40.0}
        low = {"name": "dry", "kind": "THRESHOLD", "device_id": ODD_DEVICE_IDS[0],
               "metric": "humidity", "operator": "<", "threshold": 20}  # fmt: skip
        for rule in (own, fleet, low):
            expect(await client.post("/api/alert-rules", json=rule), 201)
        rules = expect(await client.get("/api/alert-rules", params={"enabled": "true"}), 200)
        for device_id in ODD_DEVICE_IDS:
            found = expect(await client.get(f"/api/devices/{device_id}"), 200)
            metrics = ["temperature", "humidity", "a.b-c"]
            model = generated.device(found, metrics, rules["items"], {"range": "6h"})
            parsed = valid(model)
            assert parsed.time.from_ == "now-6h"
            series = [p for p in parsed.panels if p.type == "timeseries"]
            assert [p.title for p in series] == metrics
            assert all(p.targets[0].device_id == device_id for p in parsed.panels)
            alerts = [p for p in parsed.panels if p.type == "alerts"]
            assert len(alerts) == 1 and alerts[0].grid.y >= max(p.grid.y for p in series)
            levels = {p.title: [t.value for t in p.thresholds] for p in series}
            # Its own rule and the fleet's HIGH_TEMP on temperature; another device's, not.
            expected_temp = [31.5, 40.0] if device_id == ODD_DEVICE_IDS[1] else [40.0]
            assert levels["temperature"] == expected_temp, levels
            assert levels["humidity"] == ([20.0] if device_id == ODD_DEVICE_IDS[0] else [])
            saved = expect(await client.post("/api/dashboards", json=generated.copy_of(model)), 201)
            assert saved["title"].endswith("(copy)") and len(saved["title"]) <= 200
            assert saved["panels"] == [p.model_dump(mode="json", exclude_none=True)
                                       for p in parsed.panels]  # fmt: skip


async def test_a_markets_model_is_valid_and_saves_for_real_tickers(api: Api) -> None:
    alice = await api.register("alice")
    async with api.client(api.admin) as admin:
        for ticker in ODD_TICKERS:
            expect(await admin.post("/api/stocks", json={"ticker": ticker}), 201)
    async with api.client(alice) as client:
        for ticker in ODD_TICKERS:
            expect(await client.get(f"/api/stocks/{ticker}"), 200)
            custom = {"range": "custom", "start": "2026-01-01T00:00:00+00:00", "end": None}
            model = generated.ticker(ticker, custom)
            parsed = valid(model)
            assert parsed.time.from_ == "2026-01-01T00:00:00+00:00" and parsed.time.to == "now"
            assert {p.type for p in parsed.panels} == {"stat", "candlestick", "alerts"}
            assert all(p.targets[0].ticker == ticker for p in parsed.panels)
            expect(await client.post("/api/dashboards", json=generated.copy_of(model)), 201)


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_an_id_that_cannot_exist_is_refused_not_modelled(hostile: str) -> None:
    with pytest.raises(ValueError, match="not a device id"):
        generated.device({"device_id": hostile, "name": "x"}, ["temperature"], [])
    with pytest.raises(ValueError, match="not a metric"):
        generated.device({"device_id": "ok"}, [hostile], [])
    with pytest.raises(ValueError, match="not a ticker"):
        generated.ticker(hostile)


def test_an_unknown_range_and_control_characters_in_a_name_still_make_a_valid_model() -> None:
    model = generated.device(
        {"device_id": "d-1", "name": "bad\x00name\n"}, ["t"], [], {"range": "../x"}
    )
    parsed = valid(model)
    assert parsed.time.from_ == "now-1h" and "\x00" not in parsed.title
    assert valid(generated.device({"device_id": "d-2", "name": ""}, [], [])).title == "d-2"
