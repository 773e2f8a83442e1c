"""History over real HTTP: resolution choice, `points`, values equal to raw recomputations.

Data are written with `Writer.backfill` (rollups maintained as by the ingester), shuffled into
several batches so rollup buckets are built out of order. Expected values are recomputed in
Python from the rows written, independently of the database.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from ingest.writer import Writer
from tests.api_support import Api

ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)
T0 = datetime(2024, 3, 4, tzinfo=UTC)
DEVICE = "dev-hist"
TICKER = "HIST"
#: Non-aligned range: 19 h before T0 (plus 20 m 34.567 s) to 2 d 3 h 0 m 17.25 s after.
START = T0 - timedelta(hours=19) + timedelta(seconds=1234.567)
END = T0 + timedelta(days=2, hours=3, seconds=17.25)
SPIKE_AT = T0 + timedelta(hours=3, minutes=7, seconds=3)

WIDTHS = {
    "10s": timedelta(seconds=10),
    "90s": timedelta(seconds=90),
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "3h": timedelta(hours=3),
    "6h": timedelta(hours=6),
    "1d": timedelta(days=1),
    "2d": timedelta(days=2),
}

Row = tuple[datetime, str, str, float]
Tick = tuple[datetime, str, float, float | None, str]


def telemetry_rows() -> list[Row]:
    rng = random.Random(7)
    rows: list[Row] = []
    for metric in ("temperature", "humidity"):
        at = T0 - timedelta(hours=21)
        while at < T0 + timedelta(days=2, hours=5):
            rows.append((at, DEVICE, metric, round(rng.gauss(20, 5), 3)))
            at += timedelta(seconds=rng.uniform(20, 70), microseconds=rng.randrange(1000))
    # One hour at 1 Hz around a spike: more rows than points in a short range.
    dense = SPIKE_AT - timedelta(minutes=30, seconds=0.5)
    rows += [
        (dense + timedelta(seconds=k), DEVICE, "temperature", round(rng.gauss(20, 1), 3))
        for k in range(3600)
    ]
    rows.append((SPIKE_AT, DEVICE, "temperature", 1000.0))
    return rows


def price_ticks() -> list[Tick]:
    rng = random.Random(11)
    ticks: list[Tick] = []
    at, price = T0 - timedelta(hours=20), 100.0
    while at < T0 + timedelta(days=2, hours=5):
        price = round(price + rng.gauss(0, 0.5), 2)
        volume = None if rng.random() < 0.1 else float(rng.randrange(1, 500))
        ticks.append((at, TICKER, price, volume, ""))
        at += timedelta(seconds=rng.uniform(5, 90), microseconds=rng.randrange(1000))
    return ticks


async def backfill(db: asyncpg.Connection, prices: list[Tick], rows: list[Row]) -> None:
    """Shuffled, in four batches: buckets are first built from later rows, then earlier ones."""
    backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    writer = Writer(db, backend, auto_register=True)
    await writer.prepare()
    await db.executemany(  # backfill registers tickers, not devices
        "INSERT INTO devices (device_id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING",
        sorted({(r[1],) for r in rows}),
    )
    prices, rows = prices[:], rows[:]
    random.Random(3).shuffle(prices)
    random.Random(5).shuffle(rows)
    for part in range(4):
        await writer.backfill(prices[part::4], rows[part::4])


def floor(instant: datetime, width: timedelta) -> datetime:
    return ORIGIN + ((instant - ORIGIN) // width) * width


def expected_series(rows: Iterable[Row], start: datetime, end: datetime, width: timedelta) -> Any:
    """{metric: {bucket: (count, mean, min, max, last)}} of the raw rows in [start, end)."""
    found: dict[str, dict[datetime, list[tuple[datetime, float]]]] = {}
    for at, _, metric, value in sorted(rows):
        if start <= at < end:
            found.setdefault(metric, {}).setdefault(floor(at, width), []).append((at, value))
    return {
        metric: {
            bucket: (
                len(got),
                math.fsum(v for _, v in got) / len(got),
                min(v for _, v in got),
                max(v for _, v in got),
                got[-1][1],
            )
            for bucket, got in buckets.items()
        }
        for metric, buckets in found.items()
    }


def expected_candles(
    ticks: Iterable[Tick], start: datetime, end: datetime, width: timedelta
) -> Any:
    found: dict[datetime, list[Tick]] = {}
    for tick in sorted(ticks):
        if start <= tick[0] < end:
            found.setdefault(floor(tick[0], width), []).append(tick)
    result = {}
    for bucket, got in sorted(found.items()):
        volumes = [t[3] for t in got if t[3] is not None]
        prices = [t[2] for t in got]
        volume = math.fsum(volumes) if volumes else None
        result[bucket] = (prices[0], max(prices), min(prices), prices[-1], volume, len(got))
    return result


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_series_match(body: dict[str, Any], expected: Any) -> None:
    assert {s["metric"] for s in body["series"]} == set(expected)
    for series in body["series"]:
        want = expected[series["metric"]]
        got = {parse(p["time"]): p for p in series["points"]}
        assert list(got) == sorted(want), series["metric"]
        for bucket, (count, mean, low, high, last) in want.items():
            point = got[bucket]
            assert (point["count"], point["min"], point["max"], point["last"]) == (
                count,
                low,
                high,
                last,
            ), bucket
            assert math.isclose(point["value"], mean, rel_tol=1e-9), bucket


def query(start: datetime, end: datetime, **extra: object) -> dict[str, Any]:
    return {"start": start.isoformat(), "end": end.isoformat(), **extra}


async def test_telemetry_buckets_equal_raw_recomputation_at_every_resolution(
    api: Api, db: asyncpg.Connection
) -> None:
    rows = telemetry_rows()
    await backfill(db, [], rows)
    short_end = START + timedelta(hours=20)
    day_start, day_end = T0, T0 + timedelta(days=2)
    cases = [
        # (interval, range, extra, source reported)
        ("1m", START, END, {}, "telemetry_1m"),
        ("1h", START, END, {}, "telemetry_1h"),
        ("1d", START, END, {}, "telemetry_1d"),
        ("1d", day_start, day_end, {}, "telemetry_1d"),
        ("5m", START, END, {}, "telemetry_1m"),
        ("6h", START, END, {}, "telemetry_1h"),
        ("2d", START, END, {}, "telemetry_1d"),
        ("10s", START, short_end, {}, "raw"),
        ("90s", START, END, {}, "raw"),
        ("1h", START, END, {"source": "raw"}, "raw"),
        ("15m", START, END, {"metric": "humidity"}, "telemetry_1m"),
    ]
    async with api.client(api.admin) as client:
        for every, start, end, extra, source in cases:
            response = await client.get(
                f"/api/devices/{DEVICE}/telemetry",
                params=query(start, end, interval=every, **extra),
            )
            assert response.status_code == 200, response.text
            body = response.json()
            width = WIDTHS[every]
            assert body["interval_ms"] == width // timedelta(milliseconds=1)
            assert (body["source"], body["interval"], body["max_points"]) == (source, every, None)
            assert {s["method"] for s in body["series"]} == {"bucket"}
            selected = [r for r in rows if extra.get("metric") in (None, r[2])]
            assert_series_match(body, expected_series(selected, start, end, width))


async def test_points_bound_the_answer_and_pick_the_resolution(
    api: Api, db: asyncpg.Connection
) -> None:
    rows = telemetry_rows()
    await backfill(db, [], rows)
    temperature = {(r[0], r[3]) for r in rows if r[2] == "temperature"}
    async with api.client(api.admin) as client:

        async def get(start: datetime, end: datetime, points: int) -> dict[str, Any]:
            params = query(start, end, points=points, metric="temperature")
            response = await client.get(f"/api/devices/{DEVICE}/telemetry", params=params)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            assert body["max_points"] == points
            assert all(len(s["points"]) <= points for s in body["series"])
            return body

        # A few minutes, fewer rows than points: every raw row.
        calm = T0 + timedelta(hours=20)
        short = await get(calm - timedelta(minutes=5), calm + timedelta(minutes=5), 100)
        (series,) = short["series"]
        assert (short["source"], short["interval"], series["method"]) == ("raw", None, "raw")
        window = sorted(r for r in temperature if abs(r[0] - calm) < timedelta(minutes=5))
        assert [(parse(p["time"]), p["value"]) for p in series["points"]] == window

        # Twenty minutes at 1 Hz, more rows than points: raw rows chosen by MinMaxLTTB.
        middle = await get(SPIKE_AT - timedelta(minutes=10), SPIKE_AT + timedelta(minutes=10), 50)
        (series,) = middle["series"]
        assert (middle["source"], middle["interval"], series["method"]) == (
            "raw",
            None,
            "minmaxlttb",
        )
        chosen = [(parse(p["time"]), p["value"]) for p in series["points"]]
        assert len(chosen) == 50 and set(chosen) <= temperature and chosen == sorted(chosen)
        assert (SPIKE_AT, 1000.0) in chosen

        # The whole range at 1000 points: 5-minute buckets from telemetry_1m (+ raw edges).
        wide = await get(START, END, 1000)
        assert (wide["source"], wide["interval"], wide["interval_ms"]) == (
            "telemetry_1m",
            "5m",
            300_000,
        )
        only = [r for r in rows if r[2] == "temperature"]
        assert_series_match(wide, expected_series(only, START, END, timedelta(minutes=5)))

        # Two points, anywhere: buckets wide enough.
        for start, end in ((START, END), (SPIKE_AT, SPIKE_AT + timedelta(seconds=30))):
            tiny = await get(start, end, 2)
            assert tiny["series"] == [] or tiny["series"][0]["method"] == "bucket"

        # Ten points over the range: widths past 7 days are whole days.
        assert (await get(START, START + timedelta(days=90), 10))["interval"] == "10d"


async def test_short_range_with_too_many_rows_is_bucketed_from_raw(
    api: Api, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = telemetry_rows()
    await backfill(db, [], rows)
    monkeypatch.setattr("api.history.series.RAW_FETCH_MAX", 500)  # the server runs in this process
    start, end = SPIKE_AT - timedelta(minutes=10), SPIKE_AT + timedelta(minutes=10)
    params = query(start, end, points=50, metric="temperature")
    async with api.client(api.admin) as client:
        body = (await client.get(f"/api/devices/{DEVICE}/telemetry", params=params)).json()
    assert (body["source"], body["interval"], body["series"][0]["method"]) == (
        "raw",
        "30s",
        "bucket",
    )
    assert len(body["series"][0]["points"]) <= 50
    only = [r for r in rows if r[2] == "temperature"]
    assert_series_match(body, expected_series(only, start, end, timedelta(seconds=30)))


async def test_all_metrics_when_metric_is_omitted(api: Api, db: asyncpg.Connection) -> None:
    rows = telemetry_rows()
    await backfill(db, [], rows)
    start, end = T0, T0 + timedelta(minutes=10)
    async with api.client(api.admin) as client:
        body = (
            await client.get(f"/api/devices/{DEVICE}/telemetry", params=query(start, end))
        ).json()
        assert [s["metric"] for s in body["series"]] == ["humidity", "temperature"]
        for series in body["series"]:
            want = sorted(
                (r[0], r[3]) for r in rows if r[2] == series["metric"] and start <= r[0] < end
            )
            assert [(parse(p["time"]), p["value"]) for p in series["points"]] == want
        body = (
            await client.get(
                f"/api/devices/{DEVICE}/telemetry", params=query(start, end, metric="pressure")
            )
        ).json()
        assert body["series"] == []


def assert_candles_match(body: dict[str, Any], want: Any) -> None:
    got = {parse(c["time"]): c for c in body["candles"]}
    assert list(got) == list(want)
    for bucket, (o, h, lo, c, volume, count) in want.items():
        candle = got[bucket]
        assert (candle["open"], candle["high"], candle["low"], candle["close"]) == (o, h, lo, c)
        assert candle["count"] == count, bucket
        assert (volume is None) == (candle["volume"] is None), bucket
        assert volume is None or math.isclose(candle["volume"], volume), bucket


async def test_candles_are_exact_ohlcv_including_late_ticks(
    api: Api, db: asyncpg.Connection
) -> None:
    ticks = price_ticks()
    await backfill(db, ticks, [])
    # Late ticks, written after their minute's rollup exists: a new first tick (the open and
    # high) and a new last tick (the close and low) of a minute that already has ticks.
    minute = floor(min(t[0] for t in ticks if t[0] > T0 + timedelta(hours=5)), timedelta(minutes=1))
    late: list[Tick] = [
        (minute, TICKER, 999.0, 1.0, ""),
        (minute + timedelta(seconds=59, microseconds=999_999), TICKER, 1.0, None, ""),
    ]
    await backfill(db, late, [])
    ticks += late
    cases = [
        ("1m", START, END, {}, "prices_1m"),
        ("1h", START, END, {}, "prices_1h"),
        ("1d", START, END, {}, "prices_1d"),
        ("5m", START, END, {}, "prices_1m"),
        ("3h", START, END, {}, "prices_1h"),
        ("10s", minute - timedelta(hours=2), minute + timedelta(hours=2), {}, "raw"),
        ("1h", START, END, {"source": "raw"}, "raw"),
    ]
    async with api.client(await api.register("trader")) as client:  # shared market data
        for every, start, end, extra, source in cases:
            params = query(start, end, interval=every, **extra)
            response = await client.get(f"/api/stocks/{TICKER}/history", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["source"], body["interval"], body["method"]) == (source, every, "bucket")
            assert body["interval_ms"] == WIDTHS[every] // timedelta(milliseconds=1)
            assert_candles_match(body, expected_candles(ticks, start, end, WIDTHS[every]))
            if every == "1m":
                (candle,) = [c for c in body["candles"] if parse(c["time"]) == minute]
                assert (candle["open"], candle["high"], candle["low"], candle["close"]) == (
                    999.0,
                    999.0,
                    1.0,
                    1.0,
                )
                assert candle["count"] > 2

        response = await client.get(f"/api/stocks/{TICKER}/history", params=query(START, END))
        body = response.json()
        assert (body["interval"], body["source"], body["max_points"]) == ("5m", "prices_1m", 1000)
        assert 0 < len(body["candles"]) <= 1000


async def test_owner_other_user_and_admin(api: Api, db: asyncpg.Connection) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await backfill(
        db,
        [(T0, "OWNED", 1.0, 1.0, ""), (T0, "SHARED", 2.0, 1.0, "")],
        [(T0, DEVICE, "temperature", 1.0)],
    )
    await db.execute(
        "UPDATE devices SET owner_id = $1::uuid WHERE device_id = $2", alice.id, DEVICE
    )
    params = query(T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))
    telemetry = f"/api/devices/{DEVICE}/telemetry"
    expectations = [
        (alice, telemetry, 200, None),
        (api.admin, telemetry, 200, None),
        (bob, telemetry, 404, "device_not_found"),
        (bob, "/api/devices/nope/telemetry", 404, "device_not_found"),
        (alice, "/api/stocks/OWNED/history", 200, None),
        (api.admin, "/api/stocks/OWNED/history", 200, None),
        (bob, "/api/stocks/OWNED/history", 200, None),  # market data: every user's
        (bob, "/api/stocks/SHARED/history", 200, None),
        (bob, "/api/stocks/NOPE/history", 404, "stock_not_found"),
        (alice, "/api/devices/no%00such/telemetry", 404, "device_not_found"),
        (alice, "/api/stocks/NO%00SUCH/history", 404, "stock_not_found"),
    ]
    for account, path, status, code in expectations:
        async with api.client(account) as client:
            response = await client.get(path, params=params)
        assert response.status_code == status, (account.email, path, response.text)
        if code:
            assert response.json()["error"]["code"] == code
    async with api.client() as anonymous:
        assert (await anonymous.get(telemetry, params=params)).status_code == 401


async def test_bad_parameters_are_422_with_codes(api: Api, db: asyncpg.Connection) -> None:
    await backfill(db, [(T0, TICKER, 1.0, 1.0, "")], [(T0, DEVICE, "temperature", 1.0)])
    day = query(T0, T0 + timedelta(days=1))
    cases: list[tuple[dict[str, Any], str]] = [
        ({**day, "points": 100, "interval": "1m"}, "points_and_interval"),
        ({**day, "interval": "5x"}, "invalid_interval"),
        ({**day, "interval": "0s"}, "invalid_interval"),
        ({**day, "interval": "-1m"}, "invalid_interval"),
        ({**day, "interval": "99999999d"}, "invalid_interval"),
        ({**day, "interval": "1s"}, "too_many_points"),
        ({**day, "points": 1}, "validation_error"),
        ({**day, "points": 10_001}, "validation_error"),
        ({**day, "points": "many"}, "validation_error"),
        ({**day, "source": "cache"}, "validation_error"),
        (query(T0, T0), "invalid_range"),
        ({"start": "yesterday"}, "invalid_time"),
    ]
    async with api.client(api.admin) as client:
        for path in (f"/api/devices/{DEVICE}/telemetry", f"/api/stocks/{TICKER}/history"):
            for params, code in cases:
                response = await client.get(path, params=params)
                assert response.status_code == 422, (path, params, response.text)
                assert response.json()["error"]["code"] == code, (params, response.text)
        bad_metric = {**day, "metric": "temp\x00"}
        response = await client.get(f"/api/devices/{DEVICE}/telemetry", params=bad_metric)
        assert response.json()["error"]["code"] == "validation_error"
        # The cap is on buckets over the range, not on the width alone.
        ok = await client.get(path, params={**query(T0, T0 + timedelta(hours=2)), "interval": "1s"})
        assert ok.status_code == 200
