"""Fleet-wide rules: a device rule without `device_id` covers every device its owner may read
(an admin's: all), narrowed by `device_kind`; one alert per (rule, device), devices added later
included."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from devstack.broker import Mosquitto
from ingest.alerts.catalog import build
from ingest.alerts.config import Config, Device
from tests.alerts_support import (
    Starter,
    add_device,
    add_rule,
    add_user,
    alerts,
    reading,
    starting,
    wait_alert,
)
from tests.support import publish, wait_until
from tests.test_alerts_conditions import rule

ALICE, BOB, ADMIN = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def test_catalog_fleet_rules() -> None:
    devices = {
        d.device_id: d
        for d in (
            Device("a-s1", ALICE, "ONLINE", None, 10.0, "sensor"),
            Device("a-gw", ALICE, "ONLINE", None, 10.0, "gateway"),
            Device("b-s1", BOB, "ONLINE", None, 10.0, "sensor"),
            Device("nobody", None, "ONLINE", None, 10.0, "sensor"),
        )
    }
    humid = {"metric": "humidity", "operator": ">", "threshold": 80.0}
    config = Config(
        rules=[
            rule(1, "THRESHOLD", owner_id=ALICE, device_kind="sensor", **humid),
            rule(2, "THRESHOLD", owner_id=ADMIN, **humid),
            rule(3, "HIGH_TEMP", owner_id=ADMIN, metric="temperature", operator=">", threshold=50),
            rule(4, "OFFLINE", owner_id=BOB),
        ],
        devices=devices,
        admins=frozenset({ADMIN}),
    )
    catalog = build(config)
    by_rule: dict[int | None, set[str]] = {}
    for key in catalog.specs:
        by_rule.setdefault(key.rule_id, set()).add(f"{key.kind}:{key.subject}")
    assert by_rule[1] == {"THRESHOLD:a-s1"}
    assert by_rule[2] == {f"THRESHOLD:{d}" for d in devices}
    assert by_rule[3] == {f"HIGH_TEMP:{d}" for d in devices}
    assert by_rule[4] == {"OFFLINE:b-s1"}
    # An admin's fleet rule does not take the built-ins away from others' devices; bob's
    # own OFFLINE fleet rule replaces his device's built-in OFFLINE.
    builtins = by_rule[None]
    assert {f"HIGH_TEMP:{d}" for d in devices} <= builtins
    assert "OFFLINE:b-s1" not in builtins and "OFFLINE:a-s1" in builtins


@pytest.fixture
async def start(database_url: str, broker: Mosquitto) -> AsyncIterator[Starter]:
    async with starting(database_url, broker) as starter:
        yield starter


async def test_fleet_rule_one_alert_per_device_new_devices_covered(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    alice, bob = await add_user(db), await add_user(db)
    for device, owner in (("al-1", alice), ("al-2", alice), ("al-gw", alice), ("bo-1", bob)):
        await add_device(db, device, owner)
    await db.execute("UPDATE devices SET kind = 'gateway' WHERE device_id = 'al-gw'")
    fields = {"metric": "humidity", "operator": ">", "threshold": 80.0}
    rule_id = await add_rule(db, alice, "THRESHOLD", device_kind="sensor", **fields)
    await start()
    publish(broker.url, [reading(d, humidity=95.0) for d in ("al-1", "al-2", "al-gw", "bo-1")])
    for device in ("al-1", "al-2"):
        raised = await wait_alert(db, device, "THRESHOLD")
        assert (raised["rule_id"], raised["owner_id"]) == (rule_id, alice)
    await add_device(db, "al-3", alice)  # added while running: covered too
    await add_device(db, "bo-2", bob)

    async def reloaded() -> bool:
        publish(broker.url, [reading("al-3", humidity=96.0), reading("bo-2", humidity=96.0)])
        return bool(await alerts(db, "al-3", "THRESHOLD"))

    await wait_until("a THRESHOLD alert on the new device", reloaded, timeout=30, interval=0.5)
    publish(broker.url, [reading("al-1", humidity=97.0)])  # still the one open alert
    rows = await db.fetch("SELECT subject, rule_id FROM alerts WHERE kind = 'THRESHOLD'")
    assert sorted(r["subject"] for r in rows) == ["al-1", "al-2", "al-3"]
    assert {r["rule_id"] for r in rows} == {rule_id}
