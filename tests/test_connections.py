"""Half-sent requests against the API's real uvicorn on 127.0.0.1: a request head that does not
arrive within TICKWIRE_HTTP_HEADER_TIMEOUT_S is answered 408 and closed, whatever the client
sends or withholds, while complete requests keep being served; connections past
TICKWIRE_HTTP_MAX_CONNECTIONS are refused at once (503), and the server serves again after."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from api.connections import RESERVED_DESCRIPTORS, fit_descriptors
from devstack.broker import Mosquitto
from tests.api_support import Api, running_api

HEAD_TIMEOUT_S = 1.0
CAPPED_HEAD_TIMEOUT_S = 4.0
CAP = 40


@pytest.fixture
async def bounded_api(database_url: str, broker: Mosquitto, tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(
        database_url,
        broker.url,
        tmp_path / "api",
        http_header_timeout_s=HEAD_TIMEOUT_S,
        http_max_connections=CAP,
        http_keepalive_s=1,
    ) as api:
        yield api


@pytest.fixture
async def capped_api(database_url: str, broker: Mosquitto, tmp_path: Path) -> AsyncIterator[Api]:
    """A longer head deadline: opening the flood must take far less than it, even here."""
    async with running_api(
        database_url,
        broker.url,
        tmp_path / "api",
        http_header_timeout_s=CAPPED_HEAD_TIMEOUT_S,
        http_max_connections=CAP,
    ) as api:
        yield api


class Raw:
    """One TCP connection speaking (or not) HTTP by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.opened = time.monotonic()

    @classmethod
    async def open(cls, api: Api) -> Raw:
        url = urlsplit(api.url)
        return cls(*await asyncio.open_connection(url.hostname, url.port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def until_closed(self, timeout: float) -> tuple[float, bytes]:
        """(seconds since opened, all the server sent) once it closes; fails after `timeout`."""
        received = await asyncio.wait_for(self.reader.read(), timeout)
        return time.monotonic() - self.opened, received

    def close(self) -> None:
        self.writer.close()


def status_and_code(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]["code"]


async def served(api: Api) -> bool:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        return (await client.get("/health")).status_code == 200


async def test_half_sent_heads_are_closed_at_the_deadline_while_others_are_served(
    bounded_api: Api,
) -> None:
    silent = await Raw.open(bounded_api)  # connects, never sends
    half = await Raw.open(bounded_api)
    await half.send(b"GET /health HTT")  # half a request line
    drip = await Raw.open(bounded_api)  # a header a byte at a time: never idle, never done

    async def dripping() -> None:
        await drip.send(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        with contextlib.suppress(ConnectionError):
            while True:
                await asyncio.sleep(0.2)
                await drip.send(b"a")

    dripper = asyncio.create_task(dripping())
    try:
        # Complete requests go through meanwhile.
        for _ in range(3):
            assert await served(bounded_api)
        for raw in (silent, half, drip):
            elapsed, answer = await raw.until_closed(HEAD_TIMEOUT_S + 5)
            assert HEAD_TIMEOUT_S * 0.9 <= elapsed < HEAD_TIMEOUT_S + 3, elapsed
            assert status_and_code(answer) == (408, "request_timeout")
    finally:
        dripper.cancel()
        for raw in (silent, half, drip):
            raw.close()
    assert await served(bounded_api)


async def test_a_kept_alive_connection_gets_the_same_deadline_for_its_next_head(
    bounded_api: Api,
) -> None:
    raw = await Raw.open(bounded_api)
    try:
        await raw.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await asyncio.wait_for(raw.reader.readuntil(b"\r\n\r\n"), 10)
        assert first.startswith(b"HTTP/1.1 200")
        length = int(
            next(line for line in first.split(b"\r\n") if b"content-length" in line.lower()).split(
                b":"
            )[1]
        )
        await raw.reader.readexactly(length)
        raw.opened = time.monotonic()
        await raw.send(b"GET /health HTTP/1.1\r\nHo")  # the next head, never finished
        elapsed, answer = await raw.until_closed(HEAD_TIMEOUT_S + 5)
        assert HEAD_TIMEOUT_S * 0.9 <= elapsed < HEAD_TIMEOUT_S + 3, elapsed
        assert status_and_code(answer) == (408, "request_timeout")
    finally:
        raw.close()


async def test_connections_past_the_cap_are_refused_and_service_resumes(
    capped_api: Api,
) -> None:
    deadline = CAPPED_HEAD_TIMEOUT_S
    idle = [await Raw.open(capped_api) for _ in range(CAP + 25)]
    try:
        answers = await asyncio.gather(
            *(raw.until_closed(deadline + 10) for raw in idle), return_exceptions=True
        )
    finally:
        for raw in idle:
            raw.close()
    closed = [a for a in answers if not isinstance(a, BaseException)]
    refused = [a for a in closed if a[0] < deadline / 2]
    held = [a for a in closed if a[0] >= deadline * 0.9]
    assert len(refused) == 25 and len(held) == CAP, (len(refused), len(held), answers)
    assert all(status_and_code(a[1]) == (503, "too_many_connections") for a in refused)
    assert all(status_and_code(a[1]) == (408, "request_timeout") for a in held)
    # The held ones were closed at their deadline: the server serves again.
    assert await served(capped_api)


def test_the_cap_fits_the_descriptor_limit() -> None:
    """The soft limit is raised for the cap when the hard one allows; past the hard limit the
    cap is lowered to what fits (with a warning) instead of failing on accept."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        assert fit_descriptors(100) == 100
        if hard != resource.RLIM_INFINITY:
            fitted = fit_descriptors(hard + 10_000)
            assert fitted == hard - RESERVED_DESCRIPTORS
            assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
