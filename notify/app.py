"""The notifier's process: one fan-out task (outbox → deliveries) and `notify_senders`
senders (deliveries → webhooks, email), each on its own database connection.

It runs apart from the ingester and the API (`python -m notify`; `make up` starts one), so a
slow or dead endpoint never slows ingest or the alert engine; several may run (every claim is
`FOR UPDATE SKIP LOCKED`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import asyncpg
import httpx

from notify.fanout import BATCH, fan_out
from notify.mail import Mail
from notify.sender import Busy, Transport, send_one
from notify.settings import NotifySettings
from notify.webhook import Webhooks
from tickwire.aio import wait_any
from tickwire.logs import setup_logging

log = logging.getLogger(__name__)


def main(settings: NotifySettings) -> None:
    setup_logging("notify", settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(settings))


async def run(settings: NotifySettings, stop: asyncio.Event | None = None) -> None:
    """Deliver until `stop` is set (or SIGTERM / SIGINT)."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    url = settings.resolved_database_url()
    timeout = httpx.Timeout(settings.notify_timeout_s)
    async with (
        httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client,
        asyncpg.create_pool(url, min_size=1, max_size=settings.notify_senders + 1) as pool,
    ):
        transports: dict[str, Transport] = {
            "webhook": Webhooks(client, settings.webhook_allow_private),
            "email": Mail(settings.smtp_url, settings.mail_from, settings.notify_timeout_s),
        }
        due = asyncio.Event()
        busy = Busy()  # channels a sender is sending to
        log.info("notifying with %d senders", settings.notify_senders)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(_fan_out(pool, settings, stop, due), name="fan-out")
            for n in range(settings.notify_senders):
                sender = _send(pool, transports, settings, (stop, due), busy)
                tasks.create_task(sender, name=f"sender-{n}")


async def _fan_out(
    pool: asyncpg.Pool, settings: NotifySettings, stop: asyncio.Event, due: asyncio.Event
) -> None:
    """Fan the outbox out on every notification of a write, and every `notify_poll_s`."""
    written = asyncio.Event()

    def wake(*_: object) -> None:
        written.set()

    while not stop.is_set():
        try:
            async with pool.acquire() as conn:
                await conn.add_listener("tickwire_outbox", wake)
                try:
                    await _fan_out_until(conn, settings, stop, due, written)
                finally:
                    await conn.remove_listener("tickwire_outbox", wake)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("fan-out failed (%s); again in %.1f s", exc, settings.notify_poll_s)
            await wait_any([stop], settings.notify_poll_s)


async def _fan_out_until(
    conn: asyncpg.Connection,
    settings: NotifySettings,
    stop: asyncio.Event,
    due: asyncio.Event,
    written: asyncio.Event,
) -> None:
    while not stop.is_set():
        written.clear()
        taken, made = await fan_out(conn, settings.notify_give_up_s)
        if made:
            due.set()
        if taken < BATCH:
            await wait_any([written, stop], settings.notify_poll_s)


async def _send(
    pool: asyncpg.Pool,
    transports: dict[str, Transport],
    settings: NotifySettings,
    events: tuple[asyncio.Event, asyncio.Event],
    busy: Busy,
) -> None:
    """Send due deliveries one after another; wait for a wake-up (`events`: stop, due) when
    none is due."""
    stop, due = events
    outcome: Any = None
    while not stop.is_set():
        try:
            async with pool.acquire() as conn:
                outcome = await send_one(conn, transports, settings, busy)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("sender: %s", exc)
            outcome = None
        if outcome is None:
            # Cleared after the wake-up, not before the wait: a set while claiming is kept.
            await wait_any([due, stop], settings.notify_poll_s)
            due.clear()
