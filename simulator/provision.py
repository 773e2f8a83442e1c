"""Provisioning devices through the HTTP API: create them (or rotate their credentials) and keep
the MQTT credentials the API issues.

Logs in as the admin (`POST /auth/jwt/login`), creates the feed's stocks (`POST /api/stocks`,
409: already there) and has the feed's prices continue from their latest (`GET /api/quotes`:
a restart is no jump in the market), then each device (`POST /api/devices` → 201 with
`credentials`; 409: it exists, so `POST /api/devices/{id}/credentials` issues new ones).
Retries while the API is unreachable or answers 5xx. Credentials `null` / 409
`credentials_disabled`: the broker does not manage credentials, the device connects with the
shared ones (or anonymously).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import httpx

from simulator import credentials
from simulator.catalog import Stock
from simulator.fleet import Device, Feed
from simulator.link import Auth

log = logging.getLogger("simulator.provision")

_CONCURRENCY: Final = 8
_RETRY_MAX_S: Final = 10.0


class ApiError(Exception):
    """The API answered something provisioning cannot go on with."""


class Provisioner:
    """Issues credentials through the API and keeps them in the credentials file."""

    def __init__(
        self,
        api_url: str,
        email: str,
        password: str,
        path: Path,
        offline_timeout_s: float,
        stop: asyncio.Event,
    ) -> None:
        self.path = path
        self.offline_timeout_s = offline_timeout_s
        self.known = credentials.load(path)
        self._email = email
        self._password = password
        self._stop = stop
        self._http = httpx.AsyncClient(base_url=api_url.rstrip("/"), timeout=30.0)
        self._token: str | None = None
        self._lock = asyncio.Lock()
        self._gate = asyncio.Semaphore(_CONCURRENCY)
        self._devices: dict[str, Device] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def provision(self, devices: Iterable[Device], stocks: Iterable[Stock]) -> None:
        """Make sure every device exists and has credentials (those in the file are kept)."""
        self._devices = {device.device_id: device for device in devices}
        for stock in stocks:
            await self._call("POST", "/api/stocks", _stock_body(stock), ok=(201, 409))
        for device in self._devices.values():
            if isinstance(device, Feed) and device.walks:
                await self._continue(device)
        missing = [d for d in self._devices.values() if d.device_id not in self.known]
        if missing:
            log.info("provisioning %d devices through %s", len(missing), self._http.base_url)
        issued = await asyncio.gather(*(self._issue(device) for device in missing))
        for device, auth in zip(missing, issued, strict=True):
            if auth is not None:
                self.known[device.device_id] = auth
        if missing:
            credentials.save(self.path, self.known)

    async def _continue(self, feed: Feed) -> None:
        """Each ticker's walk resumes from its latest stored price, if it has one."""
        tickers = ",".join(feed.walks)
        _, body = await self._call("GET", f"/api/quotes?tickers={tickers}", None, ok=(200,))
        last = {q["ticker"]: q["price"] for q in body["items"] if q["price"] is not None}
        for ticker, price in last.items():
            feed.walks[ticker].resume(float(price))
        if last:
            log.info("%d tickers continue from their latest prices", len(last))

    async def renew(self, device_id: str) -> Auth | None:
        """The broker refused a device's credentials: rotate them (the link's `Reauth`)."""
        log.warning("%s: credentials refused by the broker; asking the API for new ones", device_id)
        try:
            auth = await self._rotate(device_id)
        except ApiError as exc:
            log.error("%s: could not renew its credentials: %s", device_id, exc)
            return None
        if auth is not None:
            self.known[device_id] = auth
            credentials.save(self.path, self.known)
        return auth

    async def _issue(self, device: Device) -> Auth | None:
        async with self._gate:
            status, body = await self._call(
                "POST", "/api/devices", _device_body(device, self.offline_timeout_s), ok=(201, 409)
            )
            if status == 201:
                return _auth(body.get("credentials"))
            return await self._rotate(device.device_id)

    async def _rotate(self, device_id: str) -> Auth | None:
        status, body = await self._call(
            "POST", f"/api/devices/{device_id}/credentials", None, ok=(200, 409)
        )
        return _auth(body) if status == 200 else None

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None, ok: tuple[int, ...]
    ) -> tuple[int, dict[str, Any]]:
        """One request, retried while the API is away; re-logs in once on a 401."""
        delay = 0.5
        relogged = False
        while True:
            try:
                headers = {"Authorization": f"Bearer {await self._login()}"}
                response = await self._http.request(method, path, json=body, headers=headers)
            except httpx.TransportError as exc:
                reason = str(exc) or type(exc).__name__
            else:
                if response.status_code in ok:
                    return response.status_code, _json(response)
                if response.status_code == 401 and not relogged:
                    self._token, relogged = None, True
                    continue
                if response.status_code < 500:
                    raise ApiError(f"{method} {path}: {response.status_code} {response.text[:300]}")
                reason = f"{response.status_code} {response.text[:200]}"
            if self._stop.is_set():
                raise ApiError(f"{method} {path}: stopped while retrying ({reason})")
            log.warning("%s %s: %s; retrying in %.1f s", method, path, reason, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_S)

    async def _login(self) -> str:
        async with self._lock:
            if self._token is None:
                response = await self._http.post(
                    "/auth/jwt/login", data={"username": self._email, "password": self._password}
                )
                if response.status_code >= 500:
                    raise httpx.TransportError(f"login: {response.status_code}")
                if response.status_code != 200:
                    raise ApiError(
                        f"login as {self._email}: {response.status_code} {response.text[:200]}"
                    )
                self._token = str(_json(response)["access_token"])
            return self._token


def _device_body(device: Device, offline_timeout_s: float) -> dict[str, Any]:
    tickers = list(device.walks) if isinstance(device, Feed) else []
    return {
        "device_id": device.device_id,
        "name": device.name,
        "kind": device.kind,
        "tickers": tickers,
        "offline_timeout_s": offline_timeout_s,
    }


def _stock_body(stock: Stock) -> dict[str, Any]:
    return {
        "ticker": stock.ticker,
        "name": stock.name,
        "exchange": stock.exchange,
        "currency": stock.currency,
    }


def _auth(body: Any) -> Auth | None:
    if isinstance(body, dict) and isinstance(body.get("username"), str):
        password = body.get("password")
        return Auth(body["username"], password if isinstance(password, str) else None)
    return None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
