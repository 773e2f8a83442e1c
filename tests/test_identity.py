"""A device never speaks for another (docs/architecture.md, "Identity"): a tick's source is
a device allowed to publish that ticker, and only a device's own topics (or credentials) change
its status, last_seen and alerts. With the real ingester on a broker without ACLs (its own
checks) and on Mosquitto with dynamic security and per-device accounts (the broker's)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from devstack.broker import Mosquitto
from tests.alerts_support import Starter, add_device, alerts, starting, wait_alert
from tests.api_support import Api
from tests.broker_support import SecureBroker
from tests.credentials_support import connected, two_owners
from tests.credentials_support import publish as device_publish
from tests.ingest_support import RunningIngester
from tests.support import Message, publish, wait_until


@pytest.fixture
async def start(database_url: str, broker: Mosquitto) -> AsyncIterator[Starter]:
    async with starting(database_url, broker) as starter:
        yield starter


async def monitors(db: asyncpg.Connection, device_id: str, *tickers: str) -> None:
    await db.execute(
        "INSERT INTO stocks (ticker) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", tickers
    )
    await db.execute(
        "INSERT INTO device_tickers (device_id, ticker) SELECT $1, unnest($2::text[])",
        device_id,
        tickers,
    )


async def gone_offline(db: asyncpg.Connection, *device_ids: str) -> None:
    """Seen an hour ago, ONLINE: each goes OFFLINE (alert raised) a timeout after the start."""
    for device_id in device_ids:
        await add_device(db, device_id, timeout_s=1.0)
        await db.execute(
            "UPDATE devices SET status = 'ONLINE', last_seen = now() - interval '1 hour'"
            " WHERE device_id = $1",
            device_id,
        )


async def device(db: asyncpg.Connection, device_id: str) -> Any:
    return await db.fetchrow("SELECT * FROM devices WHERE device_id = $1", device_id)


async def ticks(db: asyncpg.Connection) -> set[tuple[str, float, str]]:
    rows = await db.fetch("SELECT ticker, price, source FROM prices")
    return {(r["ticker"], r["price"], r["source"]) for r in rows}


async def test_price_messages_never_act_for_another_device(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    await gone_offline(db, "victim", "sentinel")
    await monitors(db, "victim", "T")
    await add_device(db, "feed-x")
    await monitors(db, "feed-x", "T")
    await add_device(db, "other")
    await monitors(db, "other", "U")
    await start()
    offline = await wait_alert(db, "victim", "OFFLINE", timeout=10)
    await wait_alert(db, "sentinel", "OFFLINE", timeout=10)
    before = await device(db, "victim")

    claims: list[Message] = [
        # stocks/{T}: a claim, accepted as the source only for a device monitoring T …
        ("stocks/T", {"price": 1.0, "device_id": "victim"}),
        # … never for one that does not, nor for an id nobody registered (no squatting).
        ("stocks/T", {"price": 2.0, "device_id": "other"}),
        ("stocks/T", {"price": 3.0, "device_id": "ghost"}),
        ("stocks/T", {"price": 4.0}),
        ("stocks/T", {"price": 4.5, "device_id": "x" * 65}),
        # Its own topic: the topic's id is the source, whatever the payload says.
        ("devices/feed-x/stocks/T", {"price": 5.0, "device_id": "victim"}),
        ("devices/feed-x/stocks/U", {"price": 6.0}),
        # Auto-registration (the open mode) registers a new feed with the tickers it sends.
        ("devices/fresh/stocks/V", {"price": 8.0}),
        ("devices/fresh/stocks/W", {"price": 9.0}),
        ("devices/bad%id/stocks/T", {"price": 10.0}),
        ("devices/feed-x/stocks/bad ticker", {"price": 11.0}),
        ("devices/feed-x/stocks/", {"price": 12.0}),
        ("devices/sentinel/heartbeat", {"uptime_s": 1}),
    ]
    publish(broker.url, claims)
    # One writer commits in publish order, the engine handles batches in commit order: once
    # the last message cleared its device's alert, every claim before it was handled.
    await wait_alert(db, "sentinel", "OFFLINE", "CLEARED")

    assert await ticks(db) == {
        ("T", 1.0, "victim"),
        ("T", 4.0, ""),
        ("T", 5.0, "feed-x"),
        ("V", 8.0, "fresh"),
        ("W", 9.0, "fresh"),
    }
    dead = await db.fetch("SELECT topic, payload, reason FROM dead_letters ORDER BY id")
    assert [(r["topic"], r["reason"]) for r in dead] == [
        ("stocks/T", "source_not_allowed"),
        ("stocks/T", "source_not_allowed"),
        ("stocks/T", "bad_type"),
        ("devices/feed-x/stocks/U", "ticker_not_allowed"),
        ("devices/bad%id/stocks/T", "bad_topic"),
        ("devices/feed-x/stocks/bad ticker", "bad_topic"),
        ("devices/feed-x/stocks/", "bad_topic"),
    ]
    assert await device(db, "ghost") is None
    after = await device(db, "victim")
    assert (after["status"], after["last_seen"]) == ("OFFLINE", before["last_seen"])
    assert [a["state"] for a in await alerts(db, "victim")] == ["ACTIVE"]
    assert (await alerts(db, "victim"))[0]["id"] == offline["id"]
    feed = await device(db, "feed-x")
    assert feed["status"] == "ONLINE" and feed["last_seen"] is not None
    assert (await device(db, "other"))["last_seen"] is None
    fresh = await device(db, "fresh")
    assert fresh["auto_registered"] and fresh["status"] == "ONLINE"
    tickers = await db.fetch("SELECT ticker FROM device_tickers WHERE device_id = 'fresh'")
    assert sorted(r["ticker"] for r in tickers) == ["V", "W"]


async def test_a_device_topic_is_refused_for_unknown_devices_without_auto_registration(
    db: asyncpg.Connection, broker: Mosquitto, start: Starter
) -> None:
    await add_device(db, "known")
    await monitors(db, "known", "T")
    await start(auto_register=False)
    publish(
        broker.url,
        [
            ("devices/stranger/stocks/T", {"price": 1.0}),
            ("devices/known/stocks/T", {"price": 2.0}),
            ("devices/known/stocks/NEW", {"price": 3.0}),
        ],
    )

    async def handled() -> bool:
        return bool(await db.fetchval("SELECT sum(received) FROM ingest_status") == 3)

    await wait_until("3 messages received by the ingester", handled)
    assert await ticks(db) == {("T", 2.0, "known")}
    reasons = await db.fetch("SELECT topic, reason FROM dead_letters ORDER BY id")
    assert [(r["topic"], r["reason"]) for r in reasons] == [
        ("devices/stranger/stocks/T", "unknown_device"),
        ("devices/known/stocks/NEW", "ticker_not_allowed"),
    ]
    assert await device(db, "stranger") is None
    assert await db.fetchval("SELECT count(*) FROM stocks WHERE ticker = 'NEW'") == 0


async def test_with_device_accounts_a_device_publishes_prices_only_as_itself(
    secure_api: Api,
    secure_ingester: RunningIngester,
    secure_broker: SecureBroker,
    db: asyncpg.Connection,
) -> None:
    _, _, mine, password, theirs = await two_owners(secure_api, ["SAME"], ["SAME", "ELSE"])
    link = await connected(secure_broker, mine, password)
    try:
        # Refused by the broker: another device's price topic (even for a ticker both
        # monitor), the shared stocks/ topic (no claims), a ticker it does not monitor.
        assert not await device_publish(link, f"devices/{theirs}/stocks/SAME", {"price": 1.0})
        assert not await device_publish(link, "stocks/SAME", {"price": 2.0, "device_id": theirs})
        assert not await device_publish(link, f"devices/{mine}/stocks/ELSE", {"price": 3.0})
        body = {"price": 4.0, "device_id": theirs}
        assert await device_publish(link, f"devices/{mine}/stocks/SAME", body)

        async def landed() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM prices") == 1)

        await wait_until("the tick stored", landed)
    finally:
        link.close()
    assert await ticks(db) == {("SAME", 4.0, mine)}
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0
    seen = await db.fetchrow("SELECT status, last_seen FROM devices WHERE device_id = $1", mine)
    assert seen["status"] == "ONLINE" and seen["last_seen"] is not None
    untouched = await db.fetchrow(
        "SELECT status, last_seen FROM devices WHERE device_id = $1", theirs
    )
    assert (untouched["status"], untouched["last_seen"]) == ("UNKNOWN", None)
