"""A Mosquitto with dynamic security, as the secure fixtures set it up (optionally also
listening over TLS, as `make up` runs it)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from devstack.broker import Mosquitto, TlsListener
from devstack.ports import free_port
from tickwire import brokerauth, certs
from tickwire.settings import MqttAddress


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

    @property
    def ca_file(self) -> Path:
        """The CA that signed the TLS listener's certificate."""
        assert self.mosquitto.tls is not None, "started without tls=True"
        return self.mosquitto.tls.files.ca_cert

    def over_tls(self, url: str) -> str:
        """`url`'s login on the TLS listener (`mqtts://`)."""
        address = MqttAddress(url)
        if address.username is None:
            assert self.mosquitto.tls_url is not None
            return self.mosquitto.tls_url
        return self.mosquitto.url_for(address.username, address.password or "", tls=True)


@contextlib.asynccontextmanager
async def secure_mosquitto(workdir: Path, tls: bool = False) -> AsyncIterator[SecureBroker]:
    """A fresh Mosquitto under `workdir` with the ingester's and the API's accounts; with
    `tls`, also on a TLS port with a CA and certificate made under `workdir`/tls."""
    admin = ("admin", secrets.token_urlsafe(16))
    listener = TlsListener(free_port(), certs.ensure(workdir / "tls")) if tls else None
    mosquitto = Mosquitto(workdir, free_port(), admin=admin, tls=listener)
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
