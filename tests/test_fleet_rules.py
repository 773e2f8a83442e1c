"""Fleet-wide rules: a device rule without `device_id` covers every device its owner may read
(an admin's: all), narrowed by `device_kind`; one alert per (rule, device), devices added later
included."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from devstack.broker import Mosquitto
from ingest.alerts.catalog import build, device_specs
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
    # One device at a time (the engine's update on a device's notification) gives what the
    # whole build gives, in the same order; taking a device out leaves none of its specs.
    for device in devices.values():
        assert device_specs(config, device) == catalog.devices[device.device_id]
        alone = [s for s in catalog.specs.values() if s.key.subject == device.device_id]
        assert sorted(map(repr, alone)) == sorted(map(repr, device_specs(config, device)))
    removed = catalog.remove_device("a-s1")
    assert removed and all(s.key not in catalog.specs for s in removed)
    assert "a-s1" not in catalog.offline and ("a-s1", "humidity") not in catalog.metrics
    for spec in device_specs(config, devices["a-s1"]):
        catalog.add(spec)
    assert catalog.specs == build(config).specs


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


async def test_device_changes_notify_the_engine_one_device_at_a_time(
    db: asyncpg.Connection, database_url: str
) -> None:
    """Migration 0013: a device registered, changed (owner, timeout, kind) or deleted is
    notified by name; other columns (the writer's last_seen, status) notify nothing."""
    heard: list[str] = []
    listener = await asyncpg.connect(database_url)
    try:
        await listener.add_listener("tickwire_config", lambda *args: heard.append(args[3]))
        await add_device(db, "n:1")  # ':' is allowed in an id
        await db.execute("UPDATE devices SET kind = 'gateway' WHERE device_id = 'n:1'")
        await db.execute("UPDATE devices SET last_seen = now(), status = 'ONLINE'")
        await db.execute("DELETE FROM devices WHERE device_id = 'n:1'")

        async def deleted() -> bool:
            return "devices:DELETE:n:1" in heard

        await wait_until("the deletion notified", deleted, timeout=10)
        # (the deletion's cascade into alert_rules notifies 'alert_rules' as well)
        named = [payload for payload in heard if payload.startswith("devices")]
        assert named == ["devices:INSERT:n:1", "devices:UPDATE:n:1", "devices:DELETE:n:1"]
    finally:
        await listener.close()


async def test_device_changes_while_running_take_effect_at_once(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    """A device's kind, owner or deletion changes which rules cover it as soon as it is
    committed: the engine reads that device again, not the whole configuration."""
    alice, bob = await add_user(db), await add_user(db)
    for device in ("ch-1", "ch-2", "ch-3"):
        await add_device(db, device, alice)
    fields = {"metric": "humidity", "operator": ">", "threshold": 80.0}
    rule_id = await add_rule(db, alice, "THRESHOLD", device_kind="sensor", **fields)
    await start()
    publish(broker.url, [reading(d, humidity=95.0) for d in ("ch-1", "ch-2", "ch-3")])
    for device in ("ch-1", "ch-2", "ch-3"):
        raised = await wait_alert(db, device, "THRESHOLD")
        assert raised["rule_id"] == rule_id
    await db.execute("UPDATE devices SET kind = 'gateway' WHERE device_id = 'ch-1'")
    await wait_alert(db, "ch-1", "THRESHOLD", state="CLEARED")
    await db.execute("UPDATE devices SET owner_id = $1 WHERE device_id = 'ch-2'", bob)
    await wait_alert(db, "ch-2", "THRESHOLD", state="CLEARED")
    # Back to alice's sensor: covered again, a new alert on the next reading.
    await db.execute("UPDATE devices SET owner_id = $1 WHERE device_id = 'ch-2'", alice)

    async def covered_again() -> bool:
        publish(broker.url, [reading("ch-2", humidity=96.0)])
        rows = await alerts(db, "ch-2", "THRESHOLD")
        return any(r["state"] == "ACTIVE" for r in rows)

    await wait_until("ch-2 covered again", covered_again, timeout=30, interval=0.5)
    assert [r["state"] for r in await alerts(db, "ch-3", "THRESHOLD")] == ["ACTIVE"]
    await db.execute("DELETE FROM devices WHERE device_id = 'ch-3'")  # psql, not the API
    await wait_alert(db, "ch-3", "THRESHOLD", state="CLEARED")
