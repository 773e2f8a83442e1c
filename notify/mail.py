"""Email deliveries through `TICKWIRE_SMTP_URL`: plain text and HTML, one message a change."""

from __future__ import annotations

import html
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
import orjson

from notify.sender import Outcome


def message(delivery: Any, sender: str) -> EmailMessage:
    """The email of one change."""
    alert = orjson.loads(delivery["alert"])
    event = delivery["event"]
    subject = f"[tickwire] {alert['kind']} {event}: {alert['subject']}"
    lines = [
        f"{alert['kind']} on {alert['subject']} was {event}.",
        "",
        f"message:  {alert['message']}",
        f"severity: {alert['severity']}",
        f"state:    {alert['state']}",
        f"value:    {alert['value']}",
        f"raised:   {alert['raised_at']}",
        f"alert id: {alert['id']}",
    ]
    mail = EmailMessage()
    mail["Subject"] = subject.replace("\r", " ").replace("\n", " ")
    mail["From"] = sender
    mail["To"] = delivery["email_to"]
    mail["X-Tickwire-Delivery"] = str(delivery["id"])
    mail.set_content("\n".join(lines))
    rows = "".join(f"<li>{html.escape(line)}</li>" for line in lines[2:])
    mail.add_alternative(f"<p>{html.escape(lines[0])}</p><ul>{rows}</ul>", subtype="html")
    return mail


class Mail:
    """Sends through one SMTP server (`smtp://` with STARTTLS when offered, or `smtps://`)."""

    def __init__(self, smtp_url: str | None, sender: str, timeout_s: float) -> None:
        self.url = urlsplit(smtp_url) if smtp_url else None
        self.sender = sender
        self.timeout_s = timeout_s

    async def send(self, delivery: Any) -> Outcome:
        if self.url is None:
            return Outcome(False, error="email is not configured (TICKWIRE_SMTP_URL)")
        url = self.url
        try:
            await aiosmtplib.send(
                message(delivery, self.sender),
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
