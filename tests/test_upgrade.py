"""Upgrading a database with data in it, both backends: from revision 0003 to 0004 (issue 12),
from 0004 to 0005 (issue 13: the alert vocabulary's CHECK constraints), from 0005 to 0006
(issue 14: revoked tokens, throttle events, the audit log) and from 0005 to 0007 (issue 14:
stocks users owned become shared market data).

0003 → 0004: every rollup bucket survives, with the same values, except the fixed ones: avg is
sum / count and open / close break ties by source. On TimescaleDB, raw rows retention already
dropped are simulated with drop_chunks: the buckets they made are kept as they were (a rebuilt
continuous aggregate cannot recompute them), and everything newer equals a raw recomputation.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.exc import IntegrityError

from sql.migrate import current, upgrade
from tests.oracle import ORIGIN, all_mismatches
from tests.support import fresh_database
from tickwire.alert_kinds import RULE_KINDS, AlertKind

LEVELS = {"1m": "1 minute", "1h": "1 hour", "1d": "1 day"}
KEYS = {"prices": ("ticker",), "telemetry": ("device_id", "metric")}
#: Columns that must not change; avg may (sum / count), open / close only where ticks tie.
SAME = {
    "prices": ("high", "low", "volume", "count"),
    "telemetry": ("min", "max", "count", "last"),  # sum: below, as a float sum's order varies
}
DROPPED_BEFORE = timedelta(days=35)


async def test_upgrade_from_0003_keeps_every_bucket(server_url: str) -> None:
    with fresh_database(server_url, revision="0003") as url:
        db = await asyncpg.connect(url)
        try:
            backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
            timescale = backend == "timescaledb"
            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            old_day, recent_day = today - timedelta(days=40), today - timedelta(days=2)
            ties = await _load_raw(db, [old_day, recent_day])
            await _build_0003_rollups(db, timescale)
            before = await _rollups(db)
            if timescale:  # retention: the old day's raw rows are gone, its rollups are not
                for table in KEYS:
                    await db.execute(
                        f"SELECT drop_chunks('{table}', older_than => now() - $1::interval)",
                        DROPPED_BEFORE,
                    )
                # A straggler older than the retention, after it ran: a chunk of its own.
                await db.execute(
                    "INSERT INTO telemetry VALUES ($1, 'straggler', 'temperature', 5)",
                    old_day + timedelta(days=1, hours=3),
                )
        finally:
            await db.close()

        upgrade(url)

        db = await asyncpg.connect(url)
        try:
            after = await _rollups(db)
            kept_raw = today - DROPPED_BEFORE if timescale else None
            for relation, rows in before.items():
                kind = relation.rsplit("_", 1)[0]
                lost = set(rows) - set(after[relation])
                assert not lost, f"{relation}: {len(lost)} buckets lost, e.g. {min(lost)}"
                for key, old in rows.items():
                    new = after[relation][key]
                    assert [new[c] for c in SAME[kind]] == [old[c] for c in SAME[kind]], key
                    if kind == "telemetry":
                        assert math.isclose(new["avg"], new["sum"] / new["count"]), key
                        assert math.isclose(new["sum"], old["sum"], rel_tol=1e-12), key
                        assert math.isclose(new["avg"], old["avg"], rel_tol=1e-12), key
                    elif key[-1] not in ties[LEVELS[relation[-2:]]]:
                        assert (new["open"], new["close"]) == (old["open"], old["close"]), key
            # Where raw rows are there, every bucket is recomputed: ties and avg right. (The
            # straggler's own buckets are recomputed from it alone: documented.)
            assert await all_mismatches(db, since=kept_raw) == []
        finally:
            await db.close()


async def test_upgrade_to_0005_keeps_every_alert_and_stops_at_a_stray_kind(
    server_url: str,
) -> None:
    """Every row tickwire wrote satisfies the new constraints and is kept as it was; a row
    written by hand with another kind stops the upgrade, named, with nothing applied."""
    with fresh_database(server_url, revision="0004") as url:
        db = await asyncpg.connect(url)
        try:
            for kind in RULE_KINDS:
                await db.execute("INSERT INTO alert_rules (name, kind) VALUES ($1, $1)", kind)
            for kind in AlertKind:
                alert = await db.fetchval(
                    "INSERT INTO alerts (kind, subject) VALUES ($1, 's') RETURNING id", kind
                )
                for state in ("ACTIVE", "ACKED", "CLEARED"):
                    await db.execute(
                        "INSERT INTO alert_events (alert_id, state) VALUES ($1, $2)", alert, state
                    )
            stray = await db.fetchval(
                "INSERT INTO alert_rules (name, kind) VALUES ('hand', 'high_temp') RETURNING id"
            )
            before = await _alert_rows(db)
        finally:
            await db.close()

        with pytest.raises(IntegrityError, match=f"alert_rules {stray} kind 'high_temp'"):
            upgrade(url, revision="0005")
        assert current(url) == "0004"

        db = await asyncpg.connect(url)
        try:
            assert await _alert_rows(db) == before
            await db.execute("DELETE FROM alert_rules WHERE id = $1", stray)
            before = await _alert_rows(db)
            upgrade(url, revision="0005")
            assert current(url) == "0005"
            assert await _alert_rows(db) == before
        finally:
            await db.close()


async def test_upgrade_to_0007_makes_every_users_stock_shared(server_url: str) -> None:
    """Stocks users added (owned, hidden from others) stay, with their prices, watchlist
    entries, device links and alert rules, and no longer have an owner: every user reads them."""
    with fresh_database(server_url, revision="0005") as url:
        db = await asyncpg.connect(url)
        try:
            alice = await db.fetchval(
                "INSERT INTO users (id, email, hashed_password, is_active, is_superuser,"
                " is_verified) VALUES (gen_random_uuid(), 'a@x.io', 'h', true, false, true)"
                " RETURNING id"
            )
            await db.execute(
                "INSERT INTO stocks (ticker, name, owner_id) VALUES ('MINE', 'Mine', $1),"
                " ('PUB', NULL, NULL)",
                alice,
            )
            await db.execute(
                "INSERT INTO devices (device_id, name, owner_id) VALUES ('d', 'd', $1)", alice
            )
            await db.execute("INSERT INTO device_tickers VALUES ('d', 'MINE')")
            await db.execute("INSERT INTO watchlist (user_id, ticker) VALUES ($1, 'MINE')", alice)
            await db.execute(
                "INSERT INTO alert_rules (name, kind, ticker, owner_id, threshold)"
                " VALUES ('r', 'PRICE_ABOVE', 'MINE', $1, 1)",
                alice,
            )
            await db.execute("INSERT INTO prices VALUES (now(), 'MINE', 1, 1, '')")
            kept = await _stock_rows(db)
        finally:
            await db.close()
        upgrade(url, revision="0007")
        assert current(url) == "0007"
        db = await asyncpg.connect(url)
        try:
            assert await _stock_rows(db) == kept
            columns = await db.fetch(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'stocks'::regclass"
                " AND attnum > 0 AND NOT attisdropped"
            )
            assert {c["attname"] for c in columns} == {
                "ticker",
                "name",
                "exchange",
                "currency",
                "created_at",
            }
        finally:
            await db.close()


async def test_upgrade_to_0006_keeps_accounts_and_adds_sessions_throttles_and_audit(
    server_url: str,
) -> None:
    """Accounts are kept; the new tables start empty and work with them (a revoked token goes
    with its user)."""
    with fresh_database(server_url, revision="0005") as url:
        db = await asyncpg.connect(url)
        try:
            user = await db.fetchval(
                """INSERT INTO users (id, email, hashed_password)
                   VALUES (gen_random_uuid(), 'kept@example.com', 'x') RETURNING id"""
            )
            before = [dict(r) for r in await db.fetch("SELECT * FROM users ORDER BY id")]
            upgrade(url, revision="0006")
            assert current(url) == "0006"
            after = [dict(r) for r in await db.fetch("SELECT * FROM users ORDER BY id")]
            assert [r.pop("tokens_valid_after") for r in after] == [None]  # no login ended
            assert after == before
            for table in ("revoked_tokens", "throttle_events", "audit_log"):
                assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0, table
            await db.execute(
                "INSERT INTO revoked_tokens VALUES (gen_random_uuid(), $1, now())", user
            )
            await db.execute("INSERT INTO audit_log (action, actor_id) VALUES ('logout', $1)", user)
            await db.execute("DELETE FROM users WHERE id = $1", user)
            assert await db.fetchval("SELECT count(*) FROM revoked_tokens") == 0
            assert await db.fetchval("SELECT actor_id FROM audit_log") is None  # entry kept
        finally:
            await db.close()


async def _stock_rows(db: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """What refers to a stock, without its owner (the column that goes)."""
    queries = {
        "stocks": "SELECT ticker, name, exchange, currency, created_at FROM stocks",
        "device_tickers": "SELECT * FROM device_tickers",
        "watchlist": "SELECT user_id, ticker FROM watchlist",
        "alert_rules": "SELECT id, ticker, owner_id FROM alert_rules",
        "prices": "SELECT ticker, price FROM prices",
    }
    return {
        name: sorted(tuple(row) for row in await db.fetch(query)) for name, query in queries.items()
    }


async def _alert_rows(db: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    return {
        table: [dict(row) for row in await db.fetch(f"SELECT * FROM {table} ORDER BY id")]
        for table in ("alert_rules", "alerts", "alert_events")
    }


async def _load_raw(db: asyncpg.Connection, days: list[datetime]) -> dict[str, set[datetime]]:
    """Rows on each day for a few hours, and ticks of two sources at one instant; return the
    buckets (per width) that hold such a tie."""
    ties: dict[str, set[datetime]] = {width: set() for width in LEVELS.values()}
    for day in days:
        start = day + timedelta(hours=9)
        for k in range(3 * 60):
            at = start + timedelta(minutes=k, seconds=k % 50)
            for device, metric in (("d1", "temperature"), ("d2", "humidity")):
                await db.execute(
                    "INSERT INTO telemetry VALUES ($1, $2, $3, $4)",
                    at,
                    device,
                    metric,
                    20 + (k * 7 % 13) / 3,
                )
            await db.execute("INSERT INTO prices VALUES ($1, 'UPG', $2, $3, '')", at, 100 + k, k)
            if k % 30 == 0:  # a tie: the same instant from two sources, first of its bucket
                tie = at - timedelta(microseconds=1)
                await db.execute(
                    "INSERT INTO prices VALUES ($1, 'UPG', 7, 1, 'b'), ($1, 'UPG', 3, 1, 'a')", tie
                )
                for width in LEVELS.values():
                    ties[width].add(await db.fetchval(f"SELECT {_bucket(width, '$1')}", tie))
    return ties


def _bucket(width: str, column: str) -> str:
    return f"date_bin(INTERVAL '{width}', {column}, {ORIGIN})"


async def _refresh(db: asyncpg.Connection, call: str) -> None:
    """A refresh, again while TimescaleDB's own refresh policy job holds the window (it runs
    in the background of a fresh database: "due to a concurrent refresh")."""
    for _ in range(50):
        try:
            await db.execute(call)
            return
        except asyncpg.LockNotAvailableError:
            await asyncio.sleep(0.2)
    await db.execute(call)


async def _build_0003_rollups(db: asyncpg.Connection, timescale: bool) -> None:
    """The rollups as revision 0003 kept them: the continuous aggregates refreshed, or the plain
    tables merged by the ingester, which kept the tick of a tie it saw first ('b' here)."""
    for level, width in LEVELS.items():
        if timescale:
            for kind in KEYS:
                await _refresh(
                    db,
                    f"CALL refresh_continuous_aggregate('{kind}_{level}', NULL,"
                    f" time_bucket(INTERVAL '{width}', now() - INTERVAL '{width}'))",
                )
            continue
        await db.execute(
            f"""INSERT INTO prices_{level} (bucket, ticker, open, high, low, close, volume,
                    count, open_time, close_time)
                SELECT {_bucket(width, "time")}, ticker,
                       (array_agg(price ORDER BY time, source DESC))[1], max(price), min(price),
                       (array_agg(price ORDER BY time DESC, source))[1], sum(volume), count(*),
                       min(time), max(time)
                FROM prices GROUP BY 1, 2"""
        )
        await db.execute(
            f"""INSERT INTO telemetry_{level} (bucket, device_id, metric, min, max, count, sum,
                    last, last_time)
                SELECT {_bucket(width, "time")}, device_id, metric, min(value), max(value),
                       count(*), sum(value), (array_agg(value ORDER BY time DESC))[1], max(time)
                FROM telemetry GROUP BY 1, 2, 3"""
        )


async def _rollups(db: asyncpg.Connection) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """relation → (series…, bucket) → row."""
    found = {}
    for kind, keys in KEYS.items():
        for level in LEVELS:
            rows = await db.fetch(f"SELECT * FROM {kind}_{level}")
            found[f"{kind}_{level}"] = {
                (*(row[k] for k in keys), row["bucket"]): dict(row) for row in rows
            }
    return found
