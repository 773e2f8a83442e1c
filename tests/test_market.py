"""Market analytics over real HTTP and a real database: quotes, indicators (against TA-Lib),
the scanner (against a brute-force recomputation from raw ticks)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import talib

from tests.api_support import Api, expect
from tests.market_support import Tick, safe_now, walk, write


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def expected_quote(ticks: list[Tick], today: datetime) -> dict[str, Any]:
    ordered = sorted(ticks, key=lambda t: (t[0], t[4]))
    day = [t for t in ordered if t[0] >= today]
    before = [t for t in ordered if t[0] < today]
    price, prev = ordered[-1][2], before[-1][2] if before else None
    return {
        "price": price,
        "open": day[0][2] if day else None,
        "high": max(t[2] for t in day) if day else None,
        "low": min(t[2] for t in day) if day else None,
        "volume": sum(t[3] or 0 for t in day) if day else None,
        "prev_close": prev,
        "change": price - prev if prev is not None else None,
    }


async def test_quotes_equal_raw_recomputation(api: Api, db: asyncpg.Connection) -> None:
    now = await safe_now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    ago = now - timedelta(seconds=1)
    market = {
        "QA": walk("QA", today - timedelta(days=2, hours=3), ago, 1),
        "QB": walk("QB", today - timedelta(hours=5), today - timedelta(minutes=7), 2),
        "QC": walk("QC", today + (now - today) / 3, ago, 3),  # nothing before today
    }
    market["QA"].append((today - timedelta(microseconds=1), "QA", 55.5, 2.0, ""))  # prev close
    market["QA"].append((today, "QA", 56.5, None, ""))  # today's open
    await write(db, [t for ticks in market.values() for t in ticks])
    alice = await api.register("alice")
    async with api.client(alice) as client:
        body = expect(await client.get("/api/quotes", params={"tickers": "QC,QA,QB"}), 200)
        assert [q["ticker"] for q in body["items"]] == ["QA", "QB", "QC"]
        for quote in body["items"]:
            want = expected_quote(market[quote["ticker"]], today)
            for key, value in want.items():
                assert close(quote[key], value), (quote["ticker"], key, quote[key], value)
            if want["change"] is not None:
                assert close(quote["change_pct"], 100 * want["change"] / want["prev_close"])
            else:
                assert quote["change_pct"] is None
        assert body["items"][0]["prev_close"] == 55.5 and body["items"][0]["open"] == 56.5
        assert body["items"][1]["open"] is None  # no tick today
        # Default: the watchlist.
        assert expect(await client.get("/api/quotes"), 200) == {"items": []}
        expect(await client.post("/api/watchlist", json={"ticker": "QB"}), 201)
        watched = expect(await client.get("/api/quotes"), 200)["items"]
        assert [q["ticker"] for q in watched] == ["QB"]
        expect(
            await client.get("/api/quotes", params={"tickers": "QA,NOPE"}), 404, "stock_not_found"
        )
        bad = await client.get("/api/quotes", params={"tickers": "Q%00"})
        expect(bad, 404, "stock_not_found")
        many = ",".join(f"T{i}" for i in range(501))
        expect(await client.get("/api/quotes", params={"tickers": many}), 422, "too_many_subjects")
        expect(await client.get("/api/quotes", params={"ticker": "QA"}), 422, "unknown_parameter")
    async with api.client() as anonymous:
        assert (await anonymous.get("/api/quotes")).status_code == 401


NAMES = ["sma:20", "ema:10", "rsi:14", "macd:12:26:9", "bbands:20:2", "atr:14", "obv", "vwap"]


def talib_series(candles: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    c = np.array([x["close"] for x in candles], dtype=float)
    h = np.array([x["high"] for x in candles], dtype=float)
    lo = np.array([x["low"] for x in candles], dtype=float)
    macd, signal, hist = talib.MACD(c, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0)
    return {
        "sma:20": talib.SMA(c, 20),
        "ema:10": talib.EMA(c, 10),
        "rsi:14": talib.RSI(c, 14),
        "macd:12:26:9.macd": macd,
        "macd:12:26:9.macd_signal": signal,
        "macd:12:26:9.macd_hist": hist,
        "bbands:20:2.bb_upper": upper,
        "bbands:20:2.bb_middle": middle,
        "bbands:20:2.bb_lower": lower,
        "atr:14": talib.ATR(h, lo, c, 14),
    }


def vwap(candles: list[dict[str, Any]]) -> list[float | None]:
    out: list[float | None] = []
    day, pv, vol = None, 0.0, 0.0
    for x in candles:
        at = parse(x["time"]).date()
        if at != day:
            day, pv, vol = at, 0.0, 0.0
        pv += (x["high"] + x["low"] + x["close"]) / 3 * (x["volume"] or 0.0)
        vol += x["volume"] or 0.0
        out.append(pv / vol if vol else None)
    return out


async def test_indicators_equal_talib_at_two_intervals(api: Api, db: asyncpg.Connection) -> None:
    end = parse("2024-03-08T00:00:00Z")
    ticks = walk("IND", end - timedelta(days=4), end, 9, step_s=(30, 150))
    await write(db, ticks)
    alice = await api.register("alice")
    async with api.client(alice) as client:
        for every, shown in (("5m", 200), ("1h", 30)):
            width = timedelta(minutes=5) if every == "5m" else timedelta(hours=1)
            full = expect(
                await client.get(
                    "/api/stocks/IND/history",
                    params={
                        "start": (end - timedelta(days=5)).isoformat(),
                        "end": end.isoformat(),
                        "interval": every,
                    },
                ),
                200,
            )["candles"]
            start = end - shown * width
            body = expect(
                await client.get(
                    "/api/stocks/IND/indicators",
                    params={
                        "names": ",".join(NAMES),
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                        "interval": every,
                    },
                ),
                200,
            )
            first = next(i for i, x in enumerate(full) if parse(x["time"]) >= start)
            assert body["interval"] == every and first > 300 // (1 if every == "5m" else 12)
            assert [parse(t) for t in body["time"]] == [parse(x["time"]) for x in full[first:]]
            want = talib_series(full)
            want_obv = talib.OBV(
                np.array([x["close"] for x in full[first:]], dtype=float),
                np.array([x["volume"] or 0.0 for x in full[first:]], dtype=float),
            )
            assert set(body["series"]) == {*want, "obv", "vwap"}
            for key, values in want.items():
                expected = [None if math.isnan(x) else float(x) for x in values[first:]]
                got = body["series"][key]
                assert all(close(a, b) for a, b in zip(got, expected, strict=True)), (every, key)
            assert all(
                close(a, float(b)) for a, b in zip(body["series"]["obv"], want_obv, strict=True)
            )
            assert all(
                close(a, b) for a, b in zip(body["series"]["vwap"], vwap(full)[first:], strict=True)
            )


async def test_bad_indicator_names_are_422(api: Api, db: asyncpg.Connection) -> None:
    await write(
        db,
        walk(
            "IND",
            datetime.fromisoformat("2024-03-04T00:00:00+00:00"),
            datetime.fromisoformat("2024-03-04T01:00:00+00:00"),
            1,
        ),
    )
    bob = await api.register("bob")
    day = {"start": "2024-03-04T00:00:00Z", "end": "2024-03-05T00:00:00Z"}
    bad = [
        "",
        "nope",
        "sma",
        "sma:0",
        "sma:501",
        "sma:x",
        "sma:1:2",
        "macd:26:12:9",
        "bbands:20:0",
        "bbands:20:nan",
        "bbands:20:inf",
        "rsi:-1",
        "obv:3",
        "sma:20\x00",
        ",".join(f"sma:{n}" for n in range(2, 30)),
    ]
    async with api.client(bob) as client:
        for name in bad:
            response = await client.get("/api/stocks/IND/indicators", params={**day, "names": name})
            expect(response, 422, "invalid_indicator")
        ok = await client.get("/api/stocks/IND/indicators", params={**day, "names": "sma:2"})
        assert expect(ok, 200)["series"]["sma:2"]
        missing = await client.get("/api/stocks/NOPE/indicators", params={**day, "names": "obv"})
        expect(missing, 404, "stock_not_found")
        both: dict[str, Any] = {**day, "names": "obv", "points": 10, "interval": "1m"}
        expect(
            await client.get("/api/stocks/IND/indicators", params=both), 422, "points_and_interval"
        )


def brute_scan(ticks: list[Tick], now: datetime, window: timedelta, limit: int) -> dict[str, Any]:
    moves: list[dict[str, Any]] = []
    for ticker in sorted({t[1] for t in ticks}):
        mine = sorted((t for t in ticks if t[1] == ticker), key=lambda t: (t[0], t[4]))
        upto = [t for t in mine if t[0] <= now]
        if not upto:
            continue
        base = [t for t in mine if t[0] <= now - window]
        price = upto[-1][2]
        volume = sum(t[3] or 0 for t in mine if now - window <= t[0] < now)
        prev = [t for t in mine if now - 21 * window <= t[0] < now - window]
        mean = sum(t[3] or 0 for t in prev) / 20 if prev else None
        high = max((t[2] for t in prev), default=None)
        low = min((t[2] for t in prev), default=None)
        change = 100 * (price - base[-1][2]) / base[-1][2] if base else None
        direction = None
        if high is not None and price > high:
            direction = "up"
        elif low is not None and price < low:
            direction = "down"
        moves.append(
            {
                "ticker": ticker,
                "price": price,
                "change_pct": change,
                "volume": volume,
                "volume_ratio": volume / mean if mean else None,
                "direction": direction,
            }
        )

    def pick(cond: Any, key: Any) -> list[dict[str, Any]]:
        return sorted((m for m in moves if cond(m)), key=lambda m: (key(m), m["ticker"]))[:limit]

    changed: list[float] = [m["change_pct"] for m in moves if m["change_pct"] is not None]
    return {
        "gainers": pick(lambda m: (m["change_pct"] or 0) > 0, lambda m: -m["change_pct"]),
        "losers": pick(lambda m: (m["change_pct"] or 0) < 0, lambda m: m["change_pct"]),
        "most_active": pick(lambda m: m["volume"] > 0, lambda m: -m["volume"]),
        "unusual_volume": pick(
            lambda m: (m["volume_ratio"] or 0) >= 2, lambda m: -m["volume_ratio"]
        ),
        "breakouts": pick(
            lambda m: m["direction"] is not None, lambda m: -abs(m["change_pct"] or 0)
        ),
        "overview": {
            "scanned": len(moves),
            "advancing": sum(c > 0 for c in changed),
            "declining": sum(c < 0 for c in changed),
            "avg_change_pct": sum(changed) / len(changed) if changed else None,
        },
    }


def seeded_market(now: datetime) -> list[Tick]:
    """Twelve tickers over the last 22 h: random walks, plus a volume burst, a breakout up and
    one down in the last minutes, and a ticker silent for the last two hours."""
    start, ago = now - timedelta(hours=22), now - timedelta(seconds=2)
    ticks = [t for i in range(9) for t in walk(f"S{i}", start, ago, 20 + i, step_s=(40, 120))]
    burst = walk("BURST", start, ago, 40, step_s=(40, 120))
    burst += [(ago - timedelta(seconds=k), "BURST", 140.0, 9000.0, "") for k in range(1, 30)]
    up = walk("UP", start, now - timedelta(minutes=2), 41, step_s=(40, 120))
    up.append((now - timedelta(seconds=30), "UP", 400.0, 10.0, ""))
    down = walk("DOWN", start, now - timedelta(minutes=2), 42, step_s=(40, 120))
    down.append((now - timedelta(seconds=30), "DOWN", 2.0, 10.0, ""))
    quiet = walk("QUIET", start, now - timedelta(hours=2), 43, step_s=(40, 120))
    return ticks + burst + up + down + quiet


def assert_list_equal(got: list[dict[str, Any]], want: list[dict[str, Any]], name: str) -> None:
    assert [g["ticker"] for g in got] == [w["ticker"] for w in want], name
    for g, w in zip(got, want, strict=True):
        for key, value in w.items():
            assert (
                close(g[key], value)
                if key != "ticker" and key != "direction"
                else (g[key] == value)
            ), (name, w["ticker"], key, g[key], value)


async def test_scanner_equals_brute_force(api: Api, db: asyncpg.Connection) -> None:
    now = await safe_now()
    ticks = seeded_market(now)
    await write(db, ticks)
    bob = await api.register("bob")
    async with api.client(bob) as client:
        for window, width in (("5m", timedelta(minutes=5)), ("1h", timedelta(hours=1))):
            for limit in (3, 10):
                params = {"window": window, "limit": limit}
                body = expect(await client.get("/api/market/scanner", params=params), 200)
                assert body["window"] == window
                want = brute_scan(ticks, parse(body["time"]), width, limit)
                for name in ("gainers", "losers", "most_active", "unusual_volume", "breakouts"):
                    assert body[name], (window, name)
                    assert_list_equal(body[name], want[name], f"{window} {name}")
                overview, expected = body["overview"], want["overview"]
                assert {k: overview[k] for k in ("scanned", "advancing", "declining")} == {
                    k: expected[k] for k in ("scanned", "advancing", "declining")
                }
                assert close(overview["avg_change_pct"], expected["avg_change_pct"])
        directions = {b["ticker"]: b["direction"] for b in body["breakouts"]}
        assert directions.items() >= {("UP", "up"), ("DOWN", "down")}
        assert body["unusual_volume"][0]["ticker"] == "BURST"
        for bad in ({"window": "2h"}, {"window": ""}, {"window": "5m\x00"}):
            response = await client.get("/api/market/scanner", params=bad)
            expect(response, 422, "invalid_window")
        for wrong in ("0", "101", "-1", "x"):
            response = await client.get("/api/market/scanner", params={"limit": wrong})
            expect(response, 422, "validation_error")
    async with api.client() as anonymous:
        assert (await anonymous.get("/api/market/scanner")).status_code == 401
