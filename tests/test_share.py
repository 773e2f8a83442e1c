"""Several ingesters on one MQTT shared subscription (`TICKWIRE_INGEST_SHARE`) split the
stream: every reading stored exactly once, also when one of them is killed mid-run and comes
back; the ingest account may subscribe through `$share` and nowhere else."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from pydantic import ValidationError

from devstack.broker import Mosquitto
from ingest.settings import IngestSettings
from tests.broker_support import SecureBroker
from tests.device_link import DeviceLink
from tests.process_support import spawn_ingester
from tests.support import Message, publish, unique, wait_until
from tickwire.contract import SUBSCRIPTIONS
from tickwire.settings import MqttAddress

DEVICES, STEPS = 20, 150
ROWS = DEVICES * STEPS * 2
SHARED = {"TICKWIRE_INGEST_SHARE": "tickwire", "TICKWIRE_ALERTS_ENABLED": "false"}


def workload() -> list[Message]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return [
        (
            f"devices/sh{device}/telemetry",
            {
                "ts": int((start + timedelta(seconds=step)).timestamp() * 1000),
                "temperature": (step + device) % 40,
                "humidity": 40 + step % 9,
            },
        )
        for step in range(STEPS)
        for device in range(DEVICES)
    ]


async def stored(db: asyncpg.Connection) -> tuple[int, int]:
    row = await db.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT (device_id, metric, time)) AS k FROM telemetry"
    )
    assert row is not None
    return int(row["n"]), int(row["k"])


def stop(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


async def test_two_ingesters_on_a_share_group_split_the_stream_exactly_once(
    db: asyncpg.Connection, database_url: str, broker: Mosquitto, tmp_path: Path
) -> None:
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    ids = [unique("ingest-a"), unique("ingest-b")]
    ingesters = [
        spawn_ingester(database_url, broker, i, log, env=SHARED)
        for i, log in zip(ids, logs, strict=True)
    ]
    try:

        async def both_subscribed() -> bool:
            return all("subscribing to $share/tickwire/" in log.read_text() for log in logs)

        await wait_until("both ingesters subscribed", both_subscribed, timeout=60, interval=0.2)
        await asyncio.to_thread(publish, broker.url, workload())

        async def all_committed() -> bool:
            return (await stored(db))[0] >= ROWS

        await wait_until("every reading committed", all_committed, timeout=120, interval=0.2)
        await asyncio.sleep(1.0)  # nothing more may arrive
        assert await stored(db) == (ROWS, ROWS)
        received = await db.fetch("SELECT instance, received FROM ingest_status")
        assert len(received) == 2 and all(r["received"] > 0 for r in received), received
        assert sum(r["received"] for r in received) == DEVICES * STEPS
    finally:
        stop(*ingesters)
    for ingester, log in zip(ingesters, logs, strict=True):
        assert ingester.returncode == 0, log.read_text()[-3000:]


async def test_kill_9_of_one_shared_ingester_mid_run_loses_and_duplicates_nothing(
    db: asyncpg.Connection, database_url: str, broker: Mosquitto, tmp_path: Path
) -> None:
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    id_a, id_b = unique("ingest-a"), unique("ingest-b")
    a = spawn_ingester(database_url, broker, id_a, log_a, env=SHARED)
    b = spawn_ingester(database_url, broker, id_b, log_b, env=SHARED)
    restarted: subprocess.Popen[bytes] | None = None
    try:

        async def both_subscribed() -> bool:
            return all("subscribing to $share/" in log.read_text() for log in (log_a, log_b))

        await wait_until("both ingesters subscribed", both_subscribed, timeout=60, interval=0.2)
        publishing = asyncio.ensure_future(asyncio.to_thread(publish, broker.url, workload()))

        async def some_committed() -> bool:
            return (await stored(db))[0] >= ROWS // 10

        await wait_until("some readings committed", some_committed, timeout=60, interval=0.005)
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        at_kill = (await stored(db))[0]
        await publishing
        assert at_kill < ROWS, "the stream finished before the kill: nothing was tested"
        restarted = spawn_ingester(database_url, broker, id_a, log_a, env=SHARED)

        async def all_committed() -> bool:
            return (await stored(db))[0] >= ROWS

        await wait_until("every reading committed", all_committed, timeout=120, interval=0.2)
        await asyncio.sleep(1.0)
        assert await stored(db) == (ROWS, ROWS)
    finally:
        stop(*(p for p in (a, b, restarted) if p is not None))


async def test_the_ingest_account_subscribes_through_share_groups_only_to_its_topics(
    secure_broker: SecureBroker,
) -> None:
    address = MqttAddress(secure_broker.ingest_url)
    ingest = DeviceLink(secure_broker.url, address.username, address.password, unique("ingest"))
    assert await asyncio.to_thread(ingest.connect)
    try:
        for topic in SUBSCRIPTIONS:
            assert not ingest.subscribe(f"$share/tickwire/{topic}").is_failure, topic
        assert ingest.subscribe("$share/tickwire/#").is_failure
        assert ingest.subscribe("$share/tickwire/devices/+/commands").is_failure
    finally:
        ingest.close()


@pytest.mark.parametrize("group", ["", "a/b", "a+", "#", "x" * 65, "a\0b"])
def test_a_share_group_name_that_mqtt_cannot_carry_is_refused(group: str) -> None:
    with pytest.raises(ValidationError):
        IngestSettings(ingest_share=group, alerts_enabled=False)


def test_a_share_group_takes_an_alert_engine_fed_from_committed_data() -> None:
    # The engines of the group's ingesters elect one leader, fed by every ingester's commits
    # (tests/test_engine_failover.py): nothing to refuse any more.
    assert IngestSettings(ingest_share="tickwire", alerts_enabled=True).alerts_enabled


def test_in_a_share_group_each_host_has_its_own_session() -> None:
    shared = IngestSettings(ingest_share="tickwire", alerts_enabled=False)
    assert shared.client_id() != "tickwire-ingest"
    assert shared.client_id().startswith("tickwire-ingest-")
    assert shared.subscriptions() == tuple(f"$share/tickwire/{t}" for t in SUBSCRIPTIONS)
    explicit = IngestSettings(
        ingest_share="tickwire", alerts_enabled=False, ingest_client_id="ingest-3"
    )
    assert explicit.client_id() == "ingest-3"
    assert IngestSettings().subscriptions() == SUBSCRIPTIONS
