"""Email deliveries through `TICKWIRE_SMTP_URL`: plain text and HTML, one message a change, or
one digest for a storm of them (`notify.sender`)."""

from __future__ import annotations

import html
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
import orjson

from notify.sender import Outcome


def _lines(delivery: Any) -> tuple[str, list[str]]:
    """A change's headline and its details, for people."""
    alert = orjson.loads(delivery["alert"])
    headline = f"{alert['kind']} on {alert['subject']} was {delivery['event']}."
    return headline, [
        f"message:  {alert['message']}",
        f"severity: {alert['severity']}",
        f"state:    {alert['state']}",
        f"value:    {alert['value']}",
        f"raised:   {alert['raised_at']}",
        f"alert id: {alert['id']}",
    ]


def message(deliveries: list[Any], sender: str) -> EmailMessage:
    """The email of one change, or the digest of several (each with its delivery id)."""
    first = deliveries[0]
    changes = [_lines(d) for d in deliveries]
    if len(deliveries) == 1:
        alert = orjson.loads(first["alert"])
        subject = f"[tickwire] {alert['kind']} {first['event']}: {alert['subject']}"
    else:
        subject = f"[tickwire] {len(deliveries)} alert changes"
    text = "\n\n".join("\n".join([head, *details]) for head, details in changes)
    blocks = "".join(
        f"<p>{html.escape(head)}</p><ul>"
        + "".join(f"<li>{html.escape(line)}</li>" for line in details)
        + "</ul>"
        for head, details in changes
    )
    mail = EmailMessage()
    mail["Subject"] = subject.replace("\r", " ").replace("\n", " ")
    mail["From"] = sender
    mail["To"] = first["email_to"]
    mail["X-Tickwire-Delivery"] = ", ".join(str(d["id"]) for d in deliveries)
    mail.set_content(text)
    mail.add_alternative(blocks, subtype="html")
    return mail


class Mail:
    """Sends through one SMTP server (`smtp://` with STARTTLS when offered, or `smtps://`)."""

    def __init__(self, smtp_url: str | None, sender: str, timeout_s: float) -> None:
        self.url = urlsplit(smtp_url) if smtp_url else None
        self.sender = sender
        self.timeout_s = timeout_s

    async def send(self, deliveries: list[Any]) -> Outcome:
        if self.url is None:
            return Outcome(False, error="email is not configured (TICKWIRE_SMTP_URL)")
        url = self.url
        try:
            await aiosmtplib.send(
                message(deliveries, self.sender),
                hostname=url.hostname,
                port=url.port,
                username=unquote(url.username) if url.username else None,
                password=unquote(url.password) if url.password else None,
                use_tls=url.scheme == "smtps",
                timeout=self.timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
        return Outcome(True)
