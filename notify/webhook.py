"""Webhook deliveries: a signed JSON `POST` (tickwire.notifications has the signature)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from notify.sender import Outcome
from tickwire.notifications import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    RefusedUrl,
    check_resolved,
    parse_webhook_url,
    sign,
)


def body(delivery: Any) -> bytes:
    """`{"event","alert"}`: the change, with the alert as the API showed it after it."""
    return orjson.dumps({"event": delivery["event"], "alert": orjson.loads(delivery["alert"])})


class Webhooks:
    """POSTs deliveries; redirects are not followed (a redirect could lead anywhere)."""

    def __init__(self, client: httpx.AsyncClient, allow_private: bool) -> None:
        self.client = client
        self.allow_private = allow_private

    async def send(self, deliveries: list[Any]) -> Outcome:
        [delivery] = deliveries  # webhooks get one change a request
        url = delivery["url"]
        try:
            parse_webhook_url(url, self.allow_private)
            if not self.allow_private:
                parts = urlsplit(url)
                port = parts.port or (443 if parts.scheme == "https" else 80)
                await asyncio.to_thread(check_resolved, parts.hostname or "", port)
        except (RefusedUrl, OSError) as exc:
            return Outcome(False, error=f"refused: {exc}")
        content = body(delivery)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "tickwire-notify",
            DELIVERY_HEADER: str(delivery["id"]),
            SIGNATURE_HEADER: sign(content, delivery["secret"]),
        }
        try:
            response = await self.client.post(url, content=content, headers=headers)
        except httpx.HTTPError as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
        return Outcome(response.is_success, response.status_code)
