"""Test helpers that talk to the real broker and database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from ingest.writer import Writer
from sql.migrate import upgrade
from tickwire import mqtt as adapter
from tickwire.settings import MqttAddress


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def fresh_database(server_url: str, revision: str = "head") -> Iterator[str]:
    """A new database on the server with the schema up to `revision`, dropped afterwards."""
    name = unique("tw_test").replace("-", "_")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = with_database(server_url, name)
        upgrade(url, revision=revision)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


Message = tuple[str, bytes | str | dict[str, Any]]


def publish(
    url: str,
    messages: Iterable[Message],
    qos: int = 1,
    timeout: float = 60,
    ca_file: Path | None = None,
    client_id: str | None = None,
) -> int:
    """Publish and wait until the broker acknowledged every message; return the count.

    Logs in as the URL's user, if any; `mqtts://` with `ca_file` as the CA."""
    address = MqttAddress(url, ca_file)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or unique("pub"))
    if address.username:
        client.username_pw_set(address.username, address.password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    adapter.connect_blocking(client, address)
    client.loop_start()
    try:
        infos = []
        for topic, body in messages:
            payload = json.dumps(body) if isinstance(body, dict) else body
            infos.append(client.publish(topic, payload, qos=qos))
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        return len(infos)
    finally:
        client.disconnect()
        client.loop_stop()


async def wait_until(
    what: str, check: Callable[[], Awaitable[bool]], timeout: float = 30.0, interval: float = 0.05
) -> None:
    """Poll `check` until it is true; fail naming `what` (the condition awaited) after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(interval)


async def backfill_telemetry(db: asyncpg.Connection, device_id: str, n: int) -> None:
    """`n` readings of `device_id`, a second apart from 5 minutes ago, written as the ingester
    writes (rollups included)."""
    backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    writer = Writer(db, backend, auto_register=True)
    await writer.prepare()
    start = datetime.now(UTC) - timedelta(minutes=5)
    rows = [(start + timedelta(seconds=i), device_id, "temperature", 20.0 + i) for i in range(n)]
    assert await writer.backfill([], rows) == n
