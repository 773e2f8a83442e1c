"""The alert engine in the real ingester: MQTT → commit → alert rows, events and journal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from devstack.broker import Mosquitto
from ingest.alerts.engine import Engine
from tests.alerts_support import (
    Starter,
    add_device,
    add_rule,
    add_user,
    alerts,
    history,
    now_ms,
    reading,
    readings,
    starting,
    streamed_states,
    tick,
    wait_alert,
)
from tests.support import publish, wait_until


@pytest.fixture
async def start(database_url: str, broker: Mosquitto) -> AsyncIterator[Starter]:
    async with starting(database_url, broker) as starter:
        yield starter


async def test_high_temp_builtin_one_alert_no_flapping_then_clears(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    await start()
    base = now_ms(-5)
    # Repeated violations and values oscillating inside the 1 °C band: one alert, no clear.
    temps = [31.0, 32.5, 30.2, 29.5, 30.8, 29.1, 31.7, 29.2]
    publish(
        broker.url, [reading("hot", base + i * 100, temperature=t) for i, t in enumerate(temps)]
    )
    raised = await wait_alert(db, "hot", "HIGH_TEMP")
    assert (raised["rule_id"], raised["owner_id"], raised["device_id"]) == (None, None, "hot")
    assert raised["value"] == 31.0 and raised["severity"] == "warning"
    publish(broker.url, [reading("hot", base + 2000, temperature=28.9)])
    cleared = await wait_alert(db, "hot", "HIGH_TEMP", "CLEARED")
    assert cleared["id"] == raised["id"] and cleared["cleared_at"] is not None
    assert len(await alerts(db, "hot", "HIGH_TEMP")) == 1
    assert await history(db, raised["id"]) == ["ACTIVE", "CLEARED"]
    assert await streamed_states(db, raised["id"]) == ["ACTIVE", "CLEARED"]
    # The condition returns: a new alert.
    publish(broker.url, [reading("hot", base + 3000, temperature=30.5)])
    again = await wait_alert(db, "hot", "HIGH_TEMP")
    assert again["id"] != raised["id"]


async def test_high_temp_rule_replaces_the_builtin(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    owner = await add_user(db)
    await add_device(db, "ruled", owner)
    rule_id = await add_rule(
        db,
        owner,
        "HIGH_TEMP",
        metric="temperature",
        operator=">=",
        threshold=40.0,
        severity="critical",
    )
    await start()
    publish(
        broker.url,
        [reading("ruled", temperature=35.0), reading("ruled", now_ms(0.1), temperature=40.0)],
    )
    raised = await wait_alert(db, "ruled", "HIGH_TEMP")
    assert (raised["rule_id"], raised["owner_id"], raised["severity"]) == (
        rule_id,
        owner,
        "critical",
    )
    assert raised["value"] == 40.0
    assert len(await alerts(db, "ruled")) == 1  # 35 °C raised no built-in alert


async def test_threshold_rule_must_hold_for_its_duration(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    owner = await add_user(db)
    await add_device(db, "humid", owner)
    fields = {"device_id": "humid", "metric": "humidity", "operator": ">", "threshold": 80.0}
    rule_id = await add_rule(db, owner, "THRESHOLD", duration_s=2.0, **fields)
    await start()
    t0 = now_ms(-6)
    # Over 80 at t0, t0+1; back under at t0+1.5 (the run starts over); over from t0+2 to
    # t0+3.9: 1.9 s, not yet 2. The last reading's 31 °C raises HIGH_TEMP: the sync point.
    points = [(0, 81), (1000, 82), (1500, 79), (2000, 85), (3000, 86), (3900, 85)]
    batch: list[dict[str, float]] = [{"ts": t0 + dt, "humidity": h} for dt, h in points]
    batch[-1]["temperature"] = 31.0
    publish(broker.url, [readings("humid", batch)])
    await wait_alert(db, "humid", "HIGH_TEMP")
    assert await alerts(db, "humid", "THRESHOLD") == []
    publish(broker.url, [reading("humid", t0 + 4000, humidity=83.0)])
    raised = await wait_alert(db, "humid", "THRESHOLD")
    assert (raised["rule_id"], raised["owner_id"], raised["value"]) == (rule_id, owner, 83.0)


async def test_replayed_old_data_raises_nothing(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    await start()
    old = now_ms(-3600)
    replay = readings("replayer", [{"ts": old + i * 1000, "temperature": 50.0} for i in range(20)])
    # Late by 11 s (over alerts_max_lag_s = 10): not evaluated either.
    late = reading("replayer", now_ms(-11), temperature=55.0)
    publish(broker.url, [replay, late, reading("sentinel", temperature=40.0)])
    await wait_alert(db, "sentinel", "HIGH_TEMP")  # processed after the replay (one writer)
    stored = await db.fetchval("SELECT count(*) FROM telemetry WHERE device_id = 'replayer'")
    assert stored == 21  # the data is kept, it just raises no alert
    assert await alerts(db, "replayer") == []


@pytest.mark.slow
async def test_offline_raised_between_10_and_11_s_after_the_last_message_then_online(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    await start()
    published = time.time()
    publish(broker.url, [reading("quiet", temperature=20.0)])
    raised = await wait_alert(db, "quiet", "OFFLINE", timeout=15)
    device = await db.fetchrow("SELECT status, last_seen FROM devices WHERE device_id = 'quiet'")
    after_receive = (raised["raised_at"] - device["last_seen"]).total_seconds()
    after_publish = raised["raised_at"].timestamp() - published
    assert 10.0 <= after_receive <= 11.0, after_receive
    assert 10.0 <= after_publish <= 11.0, after_publish
    assert device["status"] == "OFFLINE" and raised["severity"] == "warning"
    statuses = await db.fetch(
        "SELECT data::jsonb ->> 'status' AS s FROM stream_events"
        " WHERE kind = 'device_status' AND subject = 'quiet' ORDER BY id"
    )
    assert [r["s"] for r in statuses] == ["ONLINE", "OFFLINE"]
    publish(broker.url, [("devices/quiet/heartbeat", {"uptime_s": 5})])
    online = await wait_alert(db, "quiet", "ONLINE")
    assert online["severity"] == "info"
    cleared = await wait_alert(db, "quiet", "OFFLINE", "CLEARED")
    assert cleared["id"] == raised["id"]
    assert await streamed_states(db, raised["id"]) == ["ACTIVE", "CLEARED"]


async def test_online_clears_when_offline_again_and_start_grace(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    # Seen an hour ago, ONLINE: the ingester was down. Not OFFLINE before start + timeout.
    await add_device(db, "flap", timeout_s=1.0)
    await db.execute(
        "UPDATE devices SET status = 'ONLINE', last_seen = now() - interval '1 hour'"
        " WHERE device_id = 'flap'"
    )
    started = time.time()
    await start()
    first = await wait_alert(db, "flap", "OFFLINE", timeout=5)
    assert 1.0 <= first["raised_at"].timestamp() - started <= 3.0
    publish(broker.url, [reading("flap", temperature=20.0)])
    online = await wait_alert(db, "flap", "ONLINE")
    await wait_alert(db, "flap", "OFFLINE", "CLEARED")
    second = await wait_alert(db, "flap", "OFFLINE", timeout=5)
    assert second["id"] != first["id"]
    assert (await wait_alert(db, "flap", "ONLINE", "CLEARED"))["id"] == online["id"]
    assert len(await alerts(db, "flap", "ONLINE")) == 1


async def add_stock(db: asyncpg.Connection, ticker: str) -> None:
    await db.execute("INSERT INTO stocks (ticker) VALUES ($1)", ticker)


async def test_price_move_over_a_window_warmed_from_history(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    owner = await add_user(db)
    await add_stock(db, "MOVE")
    await db.execute(
        "INSERT INTO prices (time, ticker, price, source)"
        " VALUES (now() - interval '30 seconds', 'MOVE', 100.0, 'history')"
    )
    fields = {"ticker": "MOVE", "threshold": 5.0, "window_s": 60.0, "hysteresis": 1.0}
    rule_id = await add_rule(db, owner, "PRICE_MOVE", **fields)
    await start()
    publish(broker.url, [tick("MOVE", 105.5)])  # +5.5 % from the 100 the window started with
    raised = await wait_alert(db, "MOVE", "PRICE_MOVE")
    assert (raised["rule_id"], raised["owner_id"], raised["ticker"]) == (rule_id, owner, "MOVE")
    assert raised["value"] == pytest.approx(5.5)
    # 4.5 % and 4.2 % stay inside the band; 3.9 % ≤ 5 − 1 clears.
    t = now_ms()
    publish(broker.url, [tick("MOVE", p, t + i) for i, p in enumerate([104.5, 104.2, 103.9])])
    cleared = await wait_alert(db, "MOVE", "PRICE_MOVE", "CLEARED")
    assert cleared["id"] == raised["id"]
    assert await history(db, raised["id"]) == ["ACTIVE", "CLEARED"]


async def test_watchlist_levels_added_while_running(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    user = await add_user(db)
    await add_stock(db, "WAT")
    await start()
    await db.execute(
        "INSERT INTO watchlist (user_id, ticker, alert_above, alert_below)"
        " VALUES ($1, 'WAT', 150, 100)",
        user,
    )

    async def above() -> bool:  # the engine reloads on the notification; tick until it did
        publish(broker.url, [tick("WAT", 151.0)])
        return bool(await alerts(db, "WAT", "PRICE_ABOVE"))

    await wait_until("a PRICE_ABOVE alert on WAT", above, timeout=10, interval=0.2)
    raised = await wait_alert(db, "WAT", "PRICE_ABOVE")
    assert (raised["owner_id"], raised["rule_id"], raised["value"]) == (user, None, 151.0)
    # The band is 0.2 % of the level (149.7–150): 149.8 does not clear, 149.6 does.
    t = now_ms()
    publish(broker.url, [tick("WAT", 149.8, t), tick("WAT", 149.6, t + 1)])
    cleared = await wait_alert(db, "WAT", "PRICE_ABOVE", "CLEARED")
    assert cleared["id"] == raised["id"] and len(await alerts(db, "WAT", "PRICE_ABOVE")) == 1
    publish(broker.url, [tick("WAT", 99.0)])
    below = await wait_alert(db, "WAT", "PRICE_BELOW")
    assert (below["owner_id"], below["value"]) == (user, 99.0)


async def test_disabling_a_rule_clears_its_open_alert(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    owner = await add_user(db)
    await add_device(db, "rd", owner)
    rule_id = await add_rule(
        db, owner, "THRESHOLD", device_id="rd", metric="co2", operator=">=", threshold=1000.0
    )
    await start()
    publish(broker.url, [reading("rd", co2=1200.0)])
    raised = await wait_alert(db, "rd", "THRESHOLD")
    await db.execute("UPDATE alert_rules SET enabled = false WHERE id = $1", rule_id)
    cleared = await wait_alert(db, "rd", "THRESHOLD", "CLEARED")
    assert cleared["id"] == raised["id"]


async def test_alerts_survive_an_ingester_restart(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    await add_device(db, "keep")
    await add_device(db, "gone", timeout_s=1.0)
    first = await start()
    publish(broker.url, [reading("keep", temperature=35.0), reading("gone", temperature=20.0)])
    hot = await wait_alert(db, "keep", "HIGH_TEMP")
    offline = await wait_alert(db, "gone", "OFFLINE", timeout=5)
    await first.close()
    await start()
    # Good data only: it clears the alert raised before the restart (no new one).
    publish(broker.url, [reading("keep", temperature=20.0), reading("gone", temperature=20.0)])
    cleared = await wait_alert(db, "keep", "HIGH_TEMP", "CLEARED")
    assert cleared["id"] == hot["id"] and len(await alerts(db, "keep")) == 1
    assert await history(db, hot["id"]) == ["ACTIVE", "CLEARED"]
    await wait_alert(db, "gone", "ONLINE")
    assert (await wait_alert(db, "gone", "OFFLINE", "CLEARED"))["id"] == offline["id"]
    assert len(await alerts(db, "gone", "OFFLINE")) == 1


async def test_offline_rule_replaces_the_builtin_and_waits_its_duration(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    owner = await add_user(db)
    await add_device(db, "slow", owner, timeout_s=0.5)
    rule_id = await add_rule(db, owner, "OFFLINE", device_id="slow", duration_s=1.0)
    await start()
    publish(broker.url, [reading("slow", temperature=20.0)])
    raised = await wait_alert(db, "slow", "OFFLINE", timeout=5)
    last_seen = await db.fetchval("SELECT last_seen FROM devices WHERE device_id = 'slow'")
    # Its timeout and its duration (0.5 s + 1 s), never less; later by the engine's first look
    # at the ingesters' heartbeats (BACKLOG_POLL_S) and a loaded machine's loop, but less than
    # the duration twice (2.0 failed on a loaded CI run at 2.118 s, nothing wrong).
    assert 1.5 <= (raised["raised_at"] - last_seen).total_seconds() < 2.5
    assert (raised["rule_id"], raised["owner_id"], raised["value"]) == (rule_id, owner, 1.5)
    assert len(await alerts(db, "slow", "OFFLINE")) == 1  # no built-in one


async def test_no_offline_while_the_ingester_is_behind_then_a_timeout_after(
    db: asyncpg.Connection, database_url: str
) -> None:
    """A device's silence while the ingester works through a backlog (its messages may be in
    it) is not the device's: OFFLINE only a whole timeout after the ingester caught up."""
    await add_device(db, "behind", timeout_s=1.0)
    await db.execute(
        "UPDATE devices SET status = 'ONLINE', last_seen = now() WHERE device_id = 'behind'"
    )
    caught_up = False
    engine = Engine(database_url, 10.0, caught_up=lambda: caught_up)
    done = asyncio.Event()
    task = asyncio.create_task(engine.run(done))
    try:
        await asyncio.sleep(3.0)  # three timeouts behind
        assert await alerts(db, "behind", "OFFLINE") == []
        caught_up, at = True, time.time()
        raised = await wait_alert(db, "behind", "OFFLINE", timeout=5)
        assert raised["raised_at"].timestamp() - at >= 1.0
    finally:
        done.set()
        await asyncio.wait_for(task, 10)
