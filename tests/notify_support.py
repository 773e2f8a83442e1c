"""Real endpoints for notification tests: an HTTP receiver and an SMTP server on 127.0.0.1,
the notifier run in this process, and alert changes made the one way tickwire makes them."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
from aiosmtpd.controller import Controller

from devstack.ports import free_port
from notify.app import run
from notify.settings import NotifySettings
from tests.support import wait_until
from tickwire import alert_changes
from tickwire.alert_changes import NewAlert


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


@dataclass
class Receiver:
    """Answers each POST with the next of `script` (an HTTP status, or "hang": hold the
    request until `release` is set), then 200; keeps every request it got."""

    script: list[int | str] = field(default_factory=list)
    got: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def answer(self) -> int | str:
        return self.script.pop(0) if self.script else 200


@contextlib.contextmanager
def receiver(script: list[int | str] | None = None) -> Iterator[Receiver]:
    state = Receiver(list(script or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            answer = state.answer()
            state.got.append(Received(dict(self.headers.items()), body))
            if answer == "hang":
                state.release.wait(60)
                return  # the connection closes without an answer
            self.send_response(int(answer))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


class Inbox:
    """aiosmtpd's handler: keeps every message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Inbox, str]]:
    """A real SMTP server on 127.0.0.1; (its inbox, its `smtp://` URL)."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


def notify_settings(database_url: str, **overrides: Any) -> NotifySettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "webhook_allow_private": True,
        "notify_retry_base_s": 0.2,
        "notify_poll_s": 0.2,
        "notify_timeout_s": 5.0,
        "notify_senders": 2,
    }
    return NotifySettings(**(values | overrides))


@contextlib.asynccontextmanager
async def notifying(settings: NotifySettings) -> AsyncIterator[None]:
    """The notifier in this process until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def raise_alert(
    db: asyncpg.Connection, kind: str, subject: str, severity: str = "warning", owner: Any = None
) -> int:
    async with alert_changes.transaction(db) as changes:
        row = await changes.raise_alert(
            NewAlert(kind, None, subject, owner, severity, f"{kind} on {subject}", 31.5)
        )
    assert row is not None
    return int(row["id"])


async def clear_alert(db: asyncpg.Connection, alert_id: int) -> None:
    async with alert_changes.transaction(db) as changes:
        await changes.clear("id = $1", alert_id, detail="test")


async def settled(db: asyncpg.Connection, timeout: float = 30) -> None:
    """Wait until every change is fanned out and no delivery is pending."""

    async def check() -> bool:
        left = await db.fetchval(
            "SELECT (SELECT count(*) FROM notification_outbox)"
            " + (SELECT count(*) FROM notification_deliveries WHERE status = 'pending')"
        )
        return bool(left == 0)

    await wait_until("the outbox and the deliveries settled", check, timeout)
