"""The alert engine as its own role (`python -m ingest --alerts-only`): two engines, one
leads (a PostgreSQL advisory lock), the other stands by; kill -9 of the leader mid-run → the
standby leads within 15 s and every expected alert is raised and cleared exactly once, none
stale, and a threshold rule's duration counts across the failover (its run, started under
the old leader, completes under the new one: counted from the start it raises, restarted it
could not)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import asyncpg

from devstack.broker import Mosquitto
from tests.alerts_support import add_device, add_rule, add_user
from tests.engine_support import (
    Schedule,
    alert_histories,
    flat,
    leader,
    log_text,
    spawn_engine,
    stop,
    streamed,
    wait_leader,
)
from tests.process_support import spawn_ingester
from tests.support import Message, unique, wait_until

STEPS = 40  # 20 s
KILL_AT = 12  # t = 6 s
HOT = range(4, 20)  # hot: 35 °C from t = 2 to 10 s (raised by the leader, cleared by the next)
HOT2 = range(24, 30)  # hot2: 35 °C from t = 12 to 15 s (both by the new leader)
HUMID = range(6, 19)  # slow: humidity 90 from t = 3 to 9 s: exactly the rule's 6 s
QUIET = (range(0, 8), range(32, STEPS))  # quiet: silent from t = 4 to 16 s
RULE_S = 6.0


def messages(step: int, ts: int) -> list[Message]:
    out: list[Message] = [
        ("devices/hot/telemetry", {"ts": ts, "temperature": 35.0 if step in HOT else 25.0}),
        ("devices/hot2/telemetry", {"ts": ts, "temperature": 35.0 if step in HOT2 else 25.0}),
        ("devices/slow/telemetry", {"ts": ts, "humidity": 90.0 if step in HUMID else 50.0}),
    ]
    if any(step in part for part in QUIET):
        out.append(("devices/quiet/telemetry", {"ts": ts, "temperature": 20.0}))
    return out


EXPECTED = {
    ("HIGH_TEMP", "hot"): [["ACTIVE", "CLEARED"]],
    ("HIGH_TEMP", "hot2"): [["ACTIVE", "CLEARED"]],
    ("THRESHOLD", "slow"): [["ACTIVE", "CLEARED"]],
    # Silent, back, and silent again once the workload ends: OFFLINE, ONLINE, OFFLINE.
    ("OFFLINE", "quiet"): [["ACTIVE", "CLEARED"], ["ACTIVE"]],
    ("ONLINE", "quiet"): [["ACTIVE", "CLEARED"]],
}


async def prepare(db: asyncpg.Connection) -> None:
    owner = await add_user(db)
    for device in ("hot", "hot2", "slow"):
        await add_device(db, device, owner)
    await add_device(db, "quiet", owner, timeout_s=2.0)
    fields = {"device_id": "slow", "metric": "humidity", "operator": ">", "threshold": 80.0}
    await add_rule(db, owner, "THRESHOLD", duration_s=RULE_S, **fields)


async def settled(db: asyncpg.Connection, timeout: float = 60) -> None:
    async def done() -> bool:
        return await alert_histories(db) == EXPECTED

    try:
        await wait_until("every expected alert raised and cleared", done, timeout, interval=0.2)
    except AssertionError:
        raise AssertionError(f"alerts: {await alert_histories(db)}") from None
    await asyncio.sleep(2.0)  # nothing more may come
    assert await alert_histories(db) == EXPECTED
    assert await streamed(db) == flat(EXPECTED)  # each state streamed once


async def test_kill_9_of_the_leading_engine_loses_repeats_and_stales_no_alert(
    db: asyncpg.Connection, database_url: str, broker: Mosquitto, tmp_path: Path
) -> None:
    await prepare(db)
    logs = {name: tmp_path / f"{name}.log" for name in ("ingest", "a", "b")}
    ingester = spawn_ingester(
        database_url,
        broker,
        unique("ingest"),
        logs["ingest"],
        env={"TICKWIRE_ALERTS_ENABLED": "false", "TICKWIRE_INGEST_INSTANCE": "ingest-1"},
    )
    a = spawn_engine(database_url, "engine-a", logs["a"])
    standby = None
    try:
        await wait_leader(db, "engine-a")
        standby = spawn_engine(database_url, "engine-b", logs["b"])

        async def subscribed_and_waiting() -> bool:
            heard = "subscribing to" in log_text(logs["ingest"])
            return heard and "engine-b on standby" in log_text(logs["b"])

        await wait_until("ingester subscribed, engine-b on standby", subscribed_and_waiting, 60)
        schedule = Schedule(broker.url, STEPS, messages)
        publishing = asyncio.ensure_future(schedule.run())
        await schedule.reach(KILL_AT)

        async def run_started() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM alert_runs"))

        # The threshold's run began under engine-a (stored with its cursor).
        await wait_until("the threshold run stored", run_started, 30, interval=0.05)
        assert schedule.step < HUMID[-1], "the run ended before the kill: nothing was tested"
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        killed = time.monotonic()
        await wait_leader(db, "engine-b", timeout=30)
        took_over = time.monotonic() - killed
        assert took_over < 15, f"engine-b led {took_over:.1f} s after the kill"
        await publishing
        await settled(db)
        assert await leader(db) == "engine-b"
        cursor, last = await db.fetchrow(
            "SELECT (SELECT cursor FROM alert_engine), (SELECT last_id FROM alert_feed_state)"
        )
        assert cursor == last  # the whole feed consumed
    finally:
        stop(ingester, a, standby)
    assert "Traceback" not in log_text(logs["b"]), log_text(logs["b"])


async def test_ingesters_of_a_share_group_with_alerts_enabled_elect_one_engine(
    db: asyncpg.Connection, database_url: str, broker: Mosquitto, tmp_path: Path
) -> None:
    """The default engine (inside each ingester) on a share group: one leads, and it sees
    every reading, whichever ingester committed it (each device's readings alternate
    between them): one HIGH_TEMP raised and cleared per device."""
    devices = [f"sg{n}" for n in range(6)]
    logs = [tmp_path / "i1.log", tmp_path / "i2.log"]
    env = {"TICKWIRE_INGEST_SHARE": "alerting", "TICKWIRE_ALERTS_ENABLED": "true"}
    ingesters = [
        spawn_ingester(
            database_url,
            broker,
            unique(f"i{n}"),
            log,
            env={**env, "TICKWIRE_INGEST_INSTANCE": f"i{n}"},
        )
        for n, log in enumerate(logs, 1)
    ]
    try:

        async def ready() -> bool:
            subscribed = all("subscribing to $share/" in log_text(log) for log in logs)
            return subscribed and await leader(db) in ("i1", "i2")

        await wait_until("both subscribed, one engine leads", ready, 60)

        def hot(step: int, ts: int) -> list[Message]:
            temperature = 35.0 if 2 <= step < 6 else 25.0
            return [
                (f"devices/{d}/telemetry", {"ts": ts, "temperature": temperature}) for d in devices
            ]

        await Schedule(broker.url, 10, hot).run()
        expected = {("HIGH_TEMP", d): [["ACTIVE", "CLEARED"]] for d in devices}

        async def settled() -> bool:
            return await alert_histories(db) == expected

        await wait_until("one HIGH_TEMP raised and cleared per device", settled, 30, interval=0.2)
        received = await db.fetch("SELECT instance, received FROM ingest_status ORDER BY 1")
        assert [r["instance"] for r in received] == ["i1", "i2"]
        assert all(r["received"] > 0 for r in received), received  # both took part
        leading = [log for log in logs if "leads" in log_text(log)]
        assert len(leading) == 1
    finally:
        stop(*ingesters)
    assert await alert_histories(db) == expected
