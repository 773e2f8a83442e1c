"""/api/export: four formats that agree row for row with the database, negotiation,
ownership, and a body that streams (and frees its connection when the client leaves)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from api.export.query import MERGE_MAX_SERIES
from ingest.writer import Writer
from tests.api_support import Account, Api
from tests.export_support import T0, add_device, insert_series, series_params, small_buffer_client
from tests.support import wait_until

ISO_UTC_MICROS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
FORMATS = ("csv", "json", "ndjson", "xml")
#: Floats whose text forms are easy to get wrong.
AWKWARD = (0.1 + 0.2, 1 / 3, -1e-300, 1.2345678901234567e300, 5e-324, -0.0, 42.0, 123456789.125)
Row = tuple[Any, ...]


async def writer(db: asyncpg.Connection) -> Writer:
    backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    w = Writer(db, backend, auto_register=True)
    await w.prepare()
    return w


async def seed_telemetry(db: asyncpg.Connection, device_id: str, count: int = 12) -> None:
    """Two metrics sharing timestamps (ties order by metric), microseconds, awkward values."""
    rows = [
        (T0 + timedelta(seconds=i, microseconds=i * 7), device_id, metric, AWKWARD[i % 8] + k)
        for i in range(count)
        for k, metric in enumerate(("temp_c", "humidity"))
    ]
    await (await writer(db)).backfill([], rows)


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def db_telemetry(db: asyncpg.Connection, start: datetime, end: datetime) -> list[Row]:
    rows = await db.fetch(
        "SELECT time, device_id, metric, value FROM telemetry"
        " WHERE time >= $1 AND time < $2 ORDER BY time, device_id, metric",
        start,
        end,
    )
    return [(iso(r[0]), r[1], r[2], r[3]) for r in rows]


def parse(fmt: str, body: bytes, columns: tuple[str, ...], root: str) -> list[dict[str, Any]]:
    """The rows of an export body, as dicts of strings (CSV, XML) or JSON values."""
    text = body.decode()
    if fmt == "csv":
        header, *lines = list(csv.reader(io.StringIO(text, newline="")))
        assert tuple(header) == columns
        return [dict(zip(columns, line, strict=True)) for line in lines]
    if fmt == "json":
        items = json.loads(text)
        assert isinstance(items, list)
        return items
    if fmt == "ndjson":
        return [json.loads(line) for line in text.splitlines()]
    document = ET.fromstring(body)
    assert document.tag == root
    return [{field.tag: field.text or "" for field in row} for row in document]


def typed(row: dict[str, Any], numbers: tuple[str, ...], columns: tuple[str, ...]) -> Row:
    """A parsed row as a tuple: numbers as floats, a missing or empty number as None."""
    values = []
    for name in columns:
        value = row.get(name)
        if name in numbers:
            value = None if value in (None, "") else float(value)
        values.append(value)
    return tuple(values)


async def export(client: httpx.AsyncClient, path: str, **params: Any) -> httpx.Response:
    response = await client.get(f"/api/export/{path}", params=params)
    assert response.status_code == 200, response.text
    return response


TELEMETRY_COLUMNS = ("time", "device_id", "metric", "value")
PRICE_COLUMNS = ("time", "ticker", "price", "volume", "source")


async def all_formats(
    client: httpx.AsyncClient,
    path: str,
    columns: tuple[str, ...],
    numbers: tuple[str, ...],
    **params: Any,
) -> list[Row]:
    """Export in every format; assert they agree; return the rows."""
    found: dict[str, list[Row]] = {}
    for fmt in FORMATS:
        body = (await export(client, path, format=fmt, **params)).content
        found[fmt] = [typed(r, numbers, columns) for r in parse(fmt, body, columns, path)]
    for fmt in FORMATS[1:]:
        assert found[fmt] == found["csv"], fmt
    for row in found["csv"]:
        assert ISO_UTC_MICROS.fullmatch(row[0]), row[0]
    return found["csv"]


async def test_telemetry_formats_agree_with_the_database(api: Api, db: asyncpg.Connection) -> None:
    await add_device(db, "exp.1:a-b_c", api.admin)
    await add_device(db, "exp-2", None)
    await seed_telemetry(db, "exp.1:a-b_c")
    await seed_telemetry(db, "exp-2", 5)
    # [start, end): a row exactly at start is in, one exactly at end is out.
    start, end = (
        T0 + timedelta(seconds=2, microseconds=14),
        T0 + timedelta(seconds=9, microseconds=63),
    )
    window = {"start": start.isoformat(), "end": end.isoformat()}
    expected = await db_telemetry(db, start, end)
    assert expected[0][0] == iso(start) and all(r[0] != iso(end) for r in expected)
    async with api.client(api.admin) as client:
        one = await all_formats(
            client, "telemetry", TELEMETRY_COLUMNS, ("value",), device_id="exp.1:a-b_c", **window
        )
        assert one == [r for r in expected if r[1] == "exp.1:a-b_c"]
        assert len(one) == 14
        every = await all_formats(client, "telemetry", TELEMETRY_COLUMNS, ("value",), **window)
        assert every == expected
        humid = await all_formats(
            client, "telemetry", TELEMETRY_COLUMNS, ("value",), metric="humidity", **window
        )
        assert humid == [r for r in expected if r[2] == "humidity"]


async def test_prices_formats_agree_and_escape_text(api: Api, db: asyncpg.Connection) -> None:
    awkward_source = "feed<&>\"',\n\r\tend ü"
    ticks = [
        (T0 + timedelta(milliseconds=i), "EXPA", AWKWARD[i % 8], None if i % 3 else 10.5, src)
        for i in range(9)
        for src in ("a", awkward_source)
    ]
    ticks.append((T0, "EXPB", 1.25, 7.0, "x"))
    await (await writer(db)).backfill(ticks, [])
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()}
    async with api.client(api.admin) as client:
        rows = await all_formats(
            client, "prices", PRICE_COLUMNS, ("price", "volume"), ticker="EXPA", **window
        )
        everything = await all_formats(
            client, "prices", PRICE_COLUMNS, ("price", "volume"), **window
        )
    db_rows = await db.fetch(
        "SELECT time, ticker, price, volume, source FROM prices ORDER BY time, ticker, source"
    )
    expected = [(iso(r[0]), *tuple(r)[1:]) for r in db_rows]
    assert everything == expected
    assert rows == [r for r in expected if r[1] == "EXPA"]
    assert {r[4] for r in rows} == {"a", awkward_source}
    assert any(r[3] is None for r in rows)


async def test_xml_stays_well_formed_with_control_characters(
    api: Api, db: asyncpg.Connection
) -> None:
    await (await writer(db)).backfill([(T0, "EXPC", 1.0, None, "bell\x07<x>")], [])
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(seconds=1)).isoformat()}
    async with api.client(api.admin) as client:
        body = (await export(client, "prices", format="xml", **window)).content
        assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        (row,) = ET.fromstring(body)
        assert row.findtext("source") == "bell\ufffd<x>"
        assert row.find("volume") is None  # null: no element
        (line,) = (await export(client, "prices", format="ndjson", **window)).text.splitlines()
        assert json.loads(line)["source"] == "bell\x07<x>"


async def test_empty_exports_are_valid_documents(api: Api) -> None:
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}
    async with api.client(api.admin) as client:
        for path, columns in (("telemetry", TELEMETRY_COLUMNS), ("prices", PRICE_COLUMNS)):
            for fmt in FORMATS:
                body = (await export(client, path, format=fmt, **window)).content
                assert parse(fmt, body, columns, path) == []
            assert (await export(client, path, format="json", **window)).json() == []


async def test_a_device_with_many_metrics_exports_in_order(
    api: Api, db: asyncpg.Connection
) -> None:
    await add_device(db, "wide", None)
    metrics = [f"m{n:03d}" for n in range(MERGE_MAX_SERIES + 6)]
    rows = [(T0 + timedelta(seconds=s), "wide", m, float(s)) for s in range(3) for m in metrics]
    await (await writer(db)).backfill([], rows)
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(minutes=1)).isoformat()}
    async with api.client(api.admin) as client:
        body = (await export(client, "telemetry", format="csv", device_id="wide", **window)).content
    got = [
        typed(r, ("value",), TELEMETRY_COLUMNS) for r in parse("csv", body, TELEMETRY_COLUMNS, "")
    ]
    assert got == await db_telemetry(db, T0, T0 + timedelta(minutes=1))


NEGOTIATED = [
    (None, "application/json"),
    ("", "application/json"),
    ("*/*", "application/json"),
    ("text/csv", "text/csv"),
    ("application/json", "application/json"),
    ("application/x-ndjson", "application/x-ndjson"),
    ("application/ndjson", "application/x-ndjson"),
    ("application/xml", "application/xml"),
    ("text/xml", "application/xml"),
    ("text/*", "text/csv"),
    ("application/*", "application/json"),
    ("text/csv;q=0.5, application/xml;q=0.9", "application/xml"),
    ("text/csv, */*", "text/csv"),
    ("*/*, application/json;q=0", "text/csv"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/xml"),
    ("TEXT/CSV; charset=utf-8", "text/csv"),
]
NOT_ACCEPTABLE = ["text/html", "image/png", "application/json;q=0", "*/*;q=0", "nonsense"]


async def test_accept_negotiation(api: Api) -> None:
    async with api.client(api.admin) as client:
        for accept, media in NEGOTIATED:
            headers = {} if accept is None else {"Accept": accept}
            response = await client.get("/api/export/prices", headers=headers)
            assert response.status_code == 200, (accept, response.text)
            assert response.headers["content-type"].split(";")[0] == media, accept
            assert response.headers["vary"] == "Accept"
        for accept in NOT_ACCEPTABLE:
            response = await client.get("/api/export/telemetry", headers={"Accept": accept})
            assert response.status_code == 406, accept
            assert response.json()["error"]["code"] == "not_acceptable"
        # format= wins over Accept, in any case.
        response = await client.get(
            "/api/export/prices", params={"format": "NDJSON"}, headers={"Accept": "text/csv"}
        )
        assert response.headers["content-type"].startswith("application/x-ndjson")
        for fmt in ("parquet", "", "csv "):
            response = await client.get("/api/export/prices", params={"format": fmt})
            if fmt == "csv ":
                assert response.status_code == 200
                continue
            assert response.status_code == 422, fmt
            assert response.json()["error"]["code"] == "invalid_format"


async def test_content_disposition_names_the_file(api: Api, db: asyncpg.Connection) -> None:
    await add_device(db, "dev-1", None)
    params = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-31T00:00:00Z"}
    expected = {
        ("telemetry", "csv", "dev-1"): "telemetry_dev-1_20260101T000000Z_20260131T000000Z.csv",
        ("telemetry", "xml", None): "telemetry_all_20260101T000000Z_20260131T000000Z.xml",
        ("prices", "ndjson", None): "prices_all_20260101T000000Z_20260131T000000Z.ndjson",
    }
    async with api.client(api.admin) as client:
        for (path, fmt, device), name in expected.items():
            extra = {"device_id": device} if device else {}
            response = await export(client, path, format=fmt, **params, **extra)
            assert response.headers["content-disposition"] == f'attachment; filename="{name}"'


WINDOW = {"start": T0.isoformat(), "end": (T0 + timedelta(minutes=1)).isoformat()}


async def exported(api: Api, account: Account, path: str, key: str, **params: str) -> set[str]:
    """The distinct `key` values of a JSON export."""
    async with api.client(account) as client:
        items = (await export(client, path, **WINDOW, **params)).json()
    return {item[key] for item in items}


async def test_a_user_exports_only_their_devices(api: Api, db: asyncpg.Connection) -> None:
    bob, alice = await api.register("bob"), await api.register("alice")
    await add_device(db, "bobs", bob)
    await add_device(db, "alices", alice)
    await seed_telemetry(db, "bobs", 3)
    await seed_telemetry(db, "alices", 2)
    assert await exported(api, alice, "telemetry", "device_id") == {"alices"}
    assert await exported(api, bob, "telemetry", "device_id", device_id="bobs") == {"bobs"}
    assert await exported(api, api.admin, "telemetry", "device_id") == {"alices", "bobs"}
    assert await exported(api, api.admin, "telemetry", "device_id", device_id="bobs") == {"bobs"}
    async with api.client(alice) as client:
        for device_id in ("bobs", "nope", "bad\x00id"):
            response = await client.get(
                "/api/export/telemetry", params={**WINDOW, "device_id": device_id}
            )
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "device_not_found"
        response = await client.get("/api/export/telemetry", params={"metric": "a\x00"})
        assert response.json()["error"]["code"] == "invalid_metric"
        response = await client.get("/api/export/telemetry", params={"start": "tomorrow"})
        assert response.json()["error"]["code"] == "invalid_time"
    async with api.client() as anonymous:
        assert (await anonymous.get("/api/export/telemetry")).status_code == 401


async def test_every_user_exports_every_stock(api: Api, db: asyncpg.Connection) -> None:
    """Market data is shared: every user exports every stock's prices; prices of a ticker that
    is no stock (deleted, they stay) are an admin's only, like any absent subject."""
    bob, alice = await api.register("bob"), await api.register("alice")
    await (await writer(db)).backfill(
        [
            (T0, "BOBX", 1.0, None, "s"),
            (T0, "SHARED", 2.0, None, "s"),
            (T0, "GONE", 3.0, None, "s"),
        ],
        [],
    )
    await db.execute("DELETE FROM stocks WHERE ticker = 'GONE'")
    for user in (alice, bob):
        assert await exported(api, user, "prices", "ticker") == {"SHARED", "BOBX"}
        assert await exported(api, user, "prices", "ticker", ticker="BOBX") == {"BOBX"}
    assert await exported(api, api.admin, "prices", "ticker") == {"SHARED", "BOBX", "GONE"}
    async with api.client(alice) as client:
        for ticker in ("GONE", "NOPE", "<bad>"):
            response = await client.get("/api/export/prices", params={**WINDOW, "ticker": ticker})
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "stock_not_found"


async def test_a_large_export_streams(api: Api, db: asyncpg.Connection) -> None:
    """Headers and first rows arrive while PostgreSQL is still copying; a client that stops
    reading holds the COPY back (nothing piles up in the server); then the rest arrives."""
    rows = 200_000
    await insert_series(db, "big", rows)
    params = series_params("big", rows, "xml")
    async with small_buffer_client(api) as client:
        started = time.perf_counter()
        async with client.stream("GET", "/api/export/telemetry", params=params) as response:
            assert response.status_code == 200
            assert response.headers["transfer-encoding"] == "chunked"
            assert "content-length" not in response.headers
            chunks = aiter(response.aiter_raw())
            first = await anext(chunks)
            first_byte = time.perf_counter() - started
            await asyncio.sleep(0.5)  # a slow reader: the export must wait for it
            assert await export_backends(db) == 1
            body = [first, *[chunk async for chunk in chunks]]
        total = time.perf_counter() - started
    assert len(ET.fromstring(b"".join(body))) == rows
    assert len(first) < sum(map(len, body)) / 10
    assert first_byte < total / 2, (first_byte, total)


async def export_backends(db: asyncpg.Connection) -> int:
    """Server connections running an export's COPY."""
    return int(
        await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE query LIKE 'COPY (SELECT%' AND state = 'active'"
            " AND pid <> pg_backend_pid() AND datname = current_database()"
        )
    )


@pytest.mark.timeout(60)
async def test_a_client_leaving_mid_stream_frees_the_connection(
    api: Api, db: asyncpg.Connection
) -> None:
    await insert_series(db, "leave", 200_000)
    params = {"device_id": "leave", "format": "csv", **WINDOW, "end": "2026-02-01T00:00:00Z"}
    # More abandoned exports than the pool has connections (10 by default), each left while
    # its COPY runs (CSV's first bytes are the COPY's header; the client buffers little).
    for _ in range(api.settings.db_pool_max + 2):
        async with (
            small_buffer_client(api) as client,
            client.stream("GET", "/api/export/telemetry", params=params) as response,
        ):
            assert response.status_code == 200
            await anext(aiter(response.aiter_raw()))

    async def copies_gone() -> bool:
        return await export_backends(db) == 0

    await wait_until("no export COPY left on the server", copies_gone, timeout=10)
    async with api.client(api.admin) as client:
        body = await asyncio.wait_for(export(client, "telemetry", **params), 30)
    assert len(body.content.splitlines()) == 200_000 + 1  # and the header


async def test_an_export_cut_short_never_looks_complete(api: Api, db: asyncpg.Connection) -> None:
    """A COPY that fails mid-stream aborts the response: no final chunk, no closing `]`."""
    await insert_series(db, "cut", 200_000)
    params = {"device_id": "cut", "format": "json", **WINDOW, "end": "2026-02-01T00:00:00Z"}
    async with small_buffer_client(api) as client:
        async with client.stream("GET", "/api/export/telemetry", params=params) as response:
            chunks = aiter(response.aiter_raw())
            await anext(chunks)

            async def copying() -> bool:
                return await export_backends(db) == 1

            await wait_until("one export COPY running on the server", copying, timeout=10)
            killed = await db.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE query LIKE 'COPY (SELECT%' AND datname = current_database()"
            )
            assert killed == 1
            with pytest.raises(httpx.RemoteProtocolError):
                async for _ in chunks:
                    pass
        body = (await export(client, "telemetry", **params)).json()
    assert len(body) == 200_000
