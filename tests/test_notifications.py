"""Alert changes reaching people: a real HTTP receiver and a real SMTP server on 127.0.0.1,
the notifier fed from the outbox the change's transaction wrote."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from devstack.broker import Mosquitto
from tests.api_support import Account, Api, expect, running_api, samples
from tests.notify_support import (
    clear_alert,
    notify_settings,
    notifying,
    raise_alert,
    receiver,
    settled,
    smtp_server,
)
from tests.process_support import service
from tests.support import wait_until

SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture
async def open_api(database_url: str, broker: Mosquitto, tmp_path: Path) -> AsyncIterator[Api]:
    """The API allowing webhooks on 127.0.0.1 (the receivers of these tests)."""
    async with running_api(
        database_url, broker.url, tmp_path / "api", webhook_allow_private=True
    ) as running:
        yield running


async def webhook(api: Api, who: Account, url: str, **filters: Any) -> int:
    body = {"name": "hook", "kind": "webhook", "url": url, "secret": SECRET, "filter": filters}
    async with api.client(who) as client:
        created = expect(await client.post("/api/notification-channels", json=body), 201)
    assert "secret" not in created
    return int(created["id"])


def verified(got: Any) -> dict[str, Any]:
    """The body, once its signature checks out."""
    digest = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Tickwire-Signature"], f"sha256={digest}")
    body: dict[str, Any] = json.loads(got.body)
    return body


async def test_webhook_signed_retried_with_the_same_id(
    open_api: Api, db: asyncpg.Connection, database_url: str
) -> None:
    api = open_api
    alice, bob = await api.register("alice"), await api.register("bob")
    async with api.client(alice) as client:
        expect(await client.post("/api/devices", json={"device_id": "a-dev"}), 201)
    with receiver([500]) as hook, receiver() as bobs:
        channel = await webhook(api, alice, hook.url)
        await webhook(api, bob, bobs.url)  # bob may not see a-dev's alerts
        async with notifying(notify_settings(database_url)):
            alert_id = await raise_alert(db, "HIGH_TEMP", "a-dev")
            await settled(db)
            async with api.client(alice) as client:
                shown = expect(await client.get(f"/api/alerts/{alert_id}"), 200)
                expect(await client.post(f"/api/alerts/{alert_id}/ack"), 200)
                await settled(db)
                acked = expect(await client.get(f"/api/alerts/{alert_id}"), 200)
            await clear_alert(db, alert_id)
            await settled(db)
        async with api.client(alice) as client:
            cleared = expect(await client.get(f"/api/alerts/{alert_id}"), 200)
            page = expect(await client.get(f"/api/notification-channels/{channel}/deliveries"), 200)
        assert bobs.got == []
    first, retry, *rest = hook.got
    assert first.headers["X-Tickwire-Delivery"] == retry.headers["X-Tickwire-Delivery"]
    assert first.body == retry.body
    assert verified(retry) == {"event": "raised", "alert": shown}
    assert [verified(r) for r in rest] == [
        {"event": "acked", "alert": acked},
        {"event": "cleared", "alert": cleared},
    ]
    assert len({r.headers["X-Tickwire-Delivery"] for r in hook.got}) == 3
    deliveries = {d["event"]: d for d in page["items"]}
    assert page["total"] == 3 and all(d["status"] == "sent" for d in page["items"])
    raised = deliveries["raised"]
    assert raised["id"] == first.headers["X-Tickwire-Delivery"]
    assert [(a["ok"], a["status_code"]) for a in raised["attempts"]] == [(False, 500), (True, 200)]
    async with api.client() as client:
        scraped = samples((await client.get("/metrics")).text)
    # Bob's channel got nothing: every delivery and attempt is alice's webhook's.
    assert (
        scraped[("tickwire_notification_deliveries", (("kind", "webhook"), ("status", "sent")))]
        == 3
    )
    attempts = "tickwire_notification_attempts"
    assert scraped[(attempts, (("kind", "webhook"), ("outcome", "error")))] == 1
    assert scraped[(attempts, (("kind", "webhook"), ("outcome", "ok")))] == 3
    assert scraped[("tickwire_notification_outbox", ())] == 0


async def test_filters_and_silences(
    open_api: Api, db: asyncpg.Connection, database_url: str
) -> None:
    api = open_api
    alice = await api.register("alice")
    async with api.client(alice) as client:
        for device in ("a-dev", "quiet-dev"):
            expect(await client.post("/api/devices", json={"device_id": device}), 201)
        silence = {
            "matchers": {"device_id": "quiet-dev", "kind": "OFFLINE"},
            "starts_at": "2020-01-01T00:00:00Z",
            "ends_at": "2100-01-01T00:00:00Z",
            "comment": "maintenance",
        }
        expect(await client.post("/api/silences", json=silence), 201)
    with receiver() as everything, receiver() as picky:
        await webhook(api, alice, everything.url)
        await webhook(
            api,
            alice,
            picky.url,
            kinds=["OFFLINE"],
            min_severity="critical",
            events=["raised"],
        )
        async with notifying(notify_settings(database_url)):
            offline = await raise_alert(db, "OFFLINE", "a-dev", severity="critical")
            await raise_alert(db, "OFFLINE", "quiet-dev", severity="critical")  # silenced
            hot_quiet = await raise_alert(db, "HIGH_TEMP", "quiet-dev")  # not: another kind
            await raise_alert(db, "THRESHOLD", "a-dev", severity="critical")  # picky: kind
            mild = await raise_alert(db, "OFFLINE", "a-dev", severity="warning", owner=alice.id)
            await clear_alert(db, offline)  # picky: event
            await settled(db)

    def seen(hook: Any) -> list[tuple[str, int]]:
        return sorted((b["event"], b["alert"]["id"]) for b in map(verified, hook.got))

    everything_ids = await db.fetch(
        "SELECT id FROM alerts WHERE NOT (device_id = 'quiet-dev' AND kind = 'OFFLINE')"
    )
    expected = [("raised", r["id"]) for r in everything_ids] + [("cleared", offline)]
    assert seen(everything) == sorted(expected)
    assert hot_quiet in {i for _, i in seen(everything)} and mild in {
        i for _, i in seen(everything)
    }
    assert seen(picky) == [("raised", offline)]
    # Silenced: stored and streamed all the same.
    quiet = await db.fetchval(
        "SELECT count(*) FROM stream_events WHERE kind = 'alert' AND subject = 'quiet-dev'"
    )
    assert quiet == 2


async def test_email_through_a_real_smtp_server(
    database_url: str, broker: Mosquitto, tmp_path: Path, db: asyncpg.Connection
) -> None:
    with smtp_server() as (inbox, smtp_url):
        async with running_api(
            database_url, broker.url, tmp_path / "api", smtp_url=smtp_url
        ) as api:
            alice = await api.register("alice")
            async with api.client(alice) as client:
                expect(await client.post("/api/devices", json={"device_id": "a-dev"}), 201)
                body = {"name": "me", "kind": "email", "to": "ops@example.com"}
                created = expect(await client.post("/api/notification-channels", json=body), 201)
                assert created["to"] == "ops@example.com" and created["url"] is None
            settings = notify_settings(database_url, smtp_url=smtp_url)
            async with notifying(settings):
                alert_id = await raise_alert(db, "HIGH_TEMP", "a-dev")
                await settled(db)
                await wait_until("one message", lambda: _count(inbox.messages, 1))
    [message] = inbox.messages
    assert inbox.envelopes == [("tickwire@localhost", ["ops@example.com"])]
    assert message["To"] == "ops@example.com"
    assert "HIGH_TEMP raised: a-dev" in message["Subject"]
    parts = {part.get_content_type(): part for part in message.walk()}
    assert {"text/plain", "text/html"} <= parts.keys()
    text = parts["text/plain"].get_payload(decode=True)
    assert isinstance(text, bytes)
    text = text.decode()
    assert f"alert id: {alert_id}" in text and "HIGH_TEMP on a-dev" in text
    delivery = await db.fetchval("SELECT id FROM notification_deliveries")
    assert message["X-Tickwire-Delivery"] == str(delivery)


async def _count(items: list[Any], n: int) -> bool:
    return len(items) >= n


async def test_gives_up_and_keeps_the_failure(
    open_api: Api, db: asyncpg.Connection, database_url: str
) -> None:
    api = open_api
    alice = await api.register("alice")
    async with api.client(alice) as client:
        expect(await client.post("/api/devices", json={"device_id": "a-dev"}), 201)
    with receiver([500] * 1000) as hook:
        channel = await webhook(api, alice, hook.url)
        settings = notify_settings(database_url, notify_give_up_s=1.5, notify_retry_base_s=0.1)
        async with notifying(settings):
            await raise_alert(db, "HIGH_TEMP", "a-dev")
            await settled(db)
    async with api.client(alice) as client:
        page = expect(await client.get(f"/api/notification-channels/{channel}/deliveries"), 200)
    [failed] = page["items"]
    assert failed["status"] == "failed" and failed["next_at"] is None
    assert failed["last_error"] == "HTTP 500" and failed["done_at"] is not None
    assert len(failed["attempts"]) == len(hook.got) >= 2
    assert not any(a["ok"] for a in failed["attempts"])
    assert {r.headers["X-Tickwire-Delivery"] for r in hook.got} == {failed["id"]}


async def test_killed_mid_delivery_then_restarted_delivers(
    open_api: Api, db: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    """kill -9 of the notifier while a delivery is in flight: after a restart it is delivered,
    with the same id (at least once), and nothing is lost (the change waited in the outbox
    while no notifier ran at all)."""
    api = open_api
    alice = await api.register("alice")
    async with api.client(alice) as client:
        expect(await client.post("/api/devices", json={"device_id": "a-dev"}), 201)
    env = {
        "TICKWIRE_DATABASE_URL": database_url,
        "TICKWIRE_DATA_DIR": str(tmp_path / "notify"),
        "TICKWIRE_WEBHOOK_ALLOW_PRIVATE": "true",
        "TICKWIRE_NOTIFY_RETRY_BASE_S": "0.2",
        "TICKWIRE_NOTIFY_POLL_S": "0.2",
        "TICKWIRE_NOTIFY_TIMEOUT_S": "60",
    }
    with receiver(["hang"]) as hook:
        channel = await webhook(api, alice, hook.url)
        alert_id = await raise_alert(db, "HIGH_TEMP", "a-dev")  # no notifier running yet
        assert await db.fetchval("SELECT count(*) FROM notification_outbox") == 1
        with service("notify", env, tmp_path / "notify-1.log") as child:
            await wait_until("the first attempt in flight", lambda: _count(hook.got, 1))
            child.kill()
            child.wait(30)
        row = await db.fetchrow("SELECT status, attempts FROM notification_deliveries")
        assert (row["status"], row["attempts"]) == ("pending", 0)
        with service("notify", env, tmp_path / "notify-2.log"):
            await settled(db)
    first, again = hook.got
    assert first.headers["X-Tickwire-Delivery"] == again.headers["X-Tickwire-Delivery"]
    assert verified(again)["alert"]["id"] == alert_id
    async with api.client(alice) as client:
        page = expect(await client.get(f"/api/notification-channels/{channel}/deliveries"), 200)
    [delivery] = page["items"]
    assert delivery["status"] == "sent" and delivery["id"] == first.headers["X-Tickwire-Delivery"]


async def test_test_send(open_api: Api, database_url: str) -> None:
    api = open_api
    alice, bob = await api.register("alice"), await api.register("bob")
    with receiver() as hook:
        channel = await webhook(api, alice, hook.url)
        path = f"/api/notification-channels/{channel}"
        async with api.client(bob) as client:
            expect(await client.post(f"{path}/test"), 404, "notification_channel_not_found")
        async with notifying(notify_settings(database_url)), api.client(alice) as client:
            sent = expect(await client.post(f"{path}/test"), 202)
            await wait_until("the test delivered", lambda: _count(hook.got, 1))
    [got] = hook.got
    assert got.headers["X-Tickwire-Delivery"] == sent["delivery_id"]
    body = verified(got)
    assert body["event"] == "test" and body["alert"]["id"] == 0
    assert alice.email in body["alert"]["message"]


async def test_a_black_hole_holds_one_sender_not_all(
    open_api: Api, db: asyncpg.Connection, database_url: str
) -> None:
    """A channel whose endpoint never answers takes one sender at a time: the other channel's
    deliveries go on (with two senders and five changes, a sender per stuck delivery would
    leave none)."""
    api = open_api
    alice = await api.register("alice")
    for n in range(5):
        await db.execute(
            "INSERT INTO devices (device_id, name, owner_id) VALUES ($1, $1, $2::uuid)",
            f"d{n}",
            alice.id,
        )
    with receiver(["hang"] * 100) as hole, receiver() as fast:
        await webhook(api, alice, hole.url)
        await webhook(api, alice, fast.url)
        settings = notify_settings(database_url, notify_senders=2, notify_timeout_s=60)
        async with notifying(settings):
            for n in range(5):
                await raise_alert(db, "HIGH_TEMP", f"d{n}")
            await wait_until("the fast channel got all five", lambda: _count(fast.got, 5), 30)
            assert len(hole.got) == 1  # one attempt in flight there, nothing more
            hole.release.set()


async def test_an_email_storm_becomes_one_digest(
    database_url: str, broker: Mosquitto, tmp_path: Path, db: asyncpg.Connection
) -> None:
    with smtp_server() as (inbox, smtp_url):
        async with running_api(
            database_url, broker.url, tmp_path / "api", smtp_url=smtp_url
        ) as api:
            alice = await api.register("alice")
            async with api.client(alice) as client:
                body = {"name": "me", "kind": "email", "to": "ops@example.com"}
                expect(await client.post("/api/notification-channels", json=body), 201)
            for n in range(7):
                await db.execute(
                    "INSERT INTO devices (device_id, name, owner_id) VALUES ($1, $1, $2::uuid)",
                    f"s{n}",
                    alice.id,
                )
                await raise_alert(db, "OFFLINE", f"s{n}")  # a storm, before the notifier runs
            settings = notify_settings(database_url, smtp_url=smtp_url, notify_digest_min=5)
            async with notifying(settings):
                await settled(db)
                await wait_until("the digest", lambda: _count(inbox.messages, 1))
                await raise_alert(db, "HIGH_TEMP", "s0")  # alone: a message of its own
                await settled(db)
                await wait_until("the single message", lambda: _count(inbox.messages, 2))
    digest, single = inbox.messages
    assert digest["Subject"] == "[tickwire] 7 alert changes"
    ids = await db.fetch("SELECT id FROM notification_deliveries ORDER BY created_at")
    in_digest = re.findall(r"[0-9a-f-]{36}", str(digest["X-Tickwire-Delivery"]))
    assert set(in_digest) == {str(r["id"]) for r in ids[:7]}
    assert single["X-Tickwire-Delivery"] == str(ids[-1]["id"])
    text = next(p for p in digest.walk() if p.get_content_type() == "text/plain")
    payload = text.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert all(f"OFFLINE on s{n} was raised." in payload.decode() for n in range(7))
    assert "HIGH_TEMP raised: s0" in single["Subject"]
    statuses = await db.fetch("SELECT status FROM notification_deliveries")
    assert [r["status"] for r in statuses] == ["sent"] * 8
