"""A Mosquitto with dynamic security, as the secure fixtures set it up."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from devstack.broker import Mosquitto
from devstack.ports import free_port
from tickwire import brokerauth


@dataclass
class SecureBroker:
    """A Mosquitto with dynamic security, its admin and the services' accounts set up."""

    mosquitto: Mosquitto
    admin_url: str
    ingest_url: str
    api_url: str

    @property
    def url(self) -> str:
        """Without credentials (what an anonymous client would use)."""
        return self.mosquitto.url


@contextlib.asynccontextmanager
async def secure_mosquitto(workdir: Path) -> AsyncIterator[SecureBroker]:
    """A fresh Mosquitto under `workdir` with the ingester's and the API's accounts."""
    admin = ("admin", secrets.token_urlsafe(16))
    mosquitto = Mosquitto(workdir, free_port(), admin=admin)
    await asyncio.to_thread(mosquitto.start)
    try:
        ingest, api = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        assert mosquitto.admin_url is not None
        await brokerauth.setup(mosquitto.admin_url, ingest, api, wait=10)
        yield SecureBroker(
            mosquitto,
            mosquitto.admin_url,
            mosquitto.url_for(brokerauth.INGEST_ACCOUNT, ingest),
            mosquitto.url_for(brokerauth.API_ACCOUNT, api),
        )
    finally:
        await asyncio.to_thread(mosquitto.stop)
