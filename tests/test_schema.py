"""The schema on whichever backend the suite runs against: same relations, backend extras."""

from __future__ import annotations

import asyncpg
import pytest

from sql.migrate import upgrade

ROLLUPS = [f"{kind}_{level}" for kind in ("prices", "telemetry") for level in ("1m", "1h", "1d")]
TABLES = [
    "users",
    "user_preferences",
    "devices",
    "stocks",
    "device_tickers",
    "watchlist",
    "alert_rules",
    "alerts",
    "alert_events",
    "device_commands",
    "dead_letters",
    "ingest_status",
    "prices",
    "telemetry",
]


async def backend(db: asyncpg.Connection) -> str:
    return str(await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'"))


async def test_every_relation_exists_on_both_backends(db: asyncpg.Connection) -> None:
    for name in TABLES + ROLLUPS:
        assert await db.fetchval("SELECT to_regclass($1) IS NOT NULL", name), name
    columns = {
        r["attname"]
        for r in await db.fetch(
            "SELECT attname FROM pg_attribute"
            " WHERE attrelid = 'telemetry_1h'::regclass AND attnum > 0"
        )
    }
    assert {"bucket", "device_id", "metric", "avg", "min", "max", "count", "sum", "last"} <= columns


async def test_timescaledb_has_hypertables_continuous_aggregates_and_policies(
    db: asyncpg.Connection, database_url: str
) -> None:
    if await backend(db) != "timescaledb":
        pytest.skip("plain PostgreSQL: rollups are tables kept by the ingester")
    hypertables = {
        r[0]
        for r in await db.fetch("SELECT hypertable_name FROM timescaledb_information.hypertables")
    }
    assert {"prices", "telemetry"} <= hypertables
    caggs = {
        r["view_name"]: r["materialized_only"]
        for r in await db.fetch(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates"
        )
    }
    assert caggs == dict.fromkeys(ROLLUPS, False)
    jobs = [r[0] for r in await db.fetch("SELECT proc_name FROM timescaledb_information.jobs")]
    assert jobs.count("policy_refresh_continuous_aggregate") == 6
    assert jobs.count("policy_compression") == 2
    assert "policy_retention" not in jobs

    upgrade(database_url, retention_days=90)  # a setting, re-applied on every upgrade
    jobs = [r[0] for r in await db.fetch("SELECT proc_name FROM timescaledb_information.jobs")]
    assert jobs.count("policy_retention") == 2
    upgrade(database_url, retention_days=0)
    jobs = [r[0] for r in await db.fetch("SELECT proc_name FROM timescaledb_information.jobs")]
    assert "policy_retention" not in jobs


async def test_plain_postgres_rollups_are_tables(db: asyncpg.Connection) -> None:
    if await backend(db) != "postgres":
        pytest.skip("TimescaleDB: rollups are continuous aggregates")
    kinds = {
        r[0]: r[1]
        for r in await db.fetch(
            "SELECT relname, relkind::text FROM pg_class WHERE relname = ANY($1::text[])", ROLLUPS
        )
    }
    assert kinds == dict.fromkeys(ROLLUPS, "r")
