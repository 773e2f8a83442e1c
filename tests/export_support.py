"""Export tests' data: a device's series inserted by the server, its export query, and a client
that reads slowly."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from tests.api_support import Account, Api

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def add_device(db: asyncpg.Connection, device_id: str, owner: Account | None) -> None:
    await db.execute(
        "INSERT INTO devices (device_id, name, owner_id) VALUES ($1, $1, $2::text::uuid)",
        device_id,
        owner.id if owner else None,
    )


async def insert_series(db: asyncpg.Connection, device_id: str, seconds: int) -> None:
    """One reading a second, inserted by the server (fast; export reads raw rows only)."""
    await add_device(db, device_id, None)
    await db.execute(
        "INSERT INTO telemetry (time, device_id, metric, value)"
        " SELECT $1::timestamptz + make_interval(secs => s), $2, 'temp', 20 + sin(s / 60.0)"
        " FROM generate_series(0, $3 - 1) AS s",
        T0,
        device_id,
        seconds,
    )
    await db.execute("ANALYZE telemetry")


def series_params(device_id: str, seconds: int, format: str) -> dict[str, str]:
    """The export query of `insert_series`' whole range."""
    end = T0 + timedelta(seconds=seconds)
    return {
        "device_id": device_id,
        "format": format,
        "start": T0.isoformat(),
        "end": end.isoformat(),
    }


def small_buffer_client(api: Api) -> httpx.AsyncClient:
    """An admin client whose socket buffers little (no kernel autotuning up to tens of MB),
    so a client that stops reading is felt by the server at once."""
    small = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)]
    return api.client(api.admin, transport=httpx.AsyncHTTPTransport(socket_options=small))
