"""The schema on whichever backend the suite runs against: same relations, backend extras."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from pydantic import ValidationError

from sql.migrate import MigrateSettings, upgrade
from sql.policies import Policies
from tickwire.alert_kinds import RULE_KINDS, AlertKind
from tickwire.audit_actions import AuditAction

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
    "revoked_tokens",
    "throttle_events",
    "audit_log",
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


async def test_a_stock_has_no_owner(db: asyncpg.Connection) -> None:
    """Revision 0007: stocks are market data, shared by all; nobody can claim a ticker."""
    columns = {
        r["attname"]
        for r in await db.fetch(
            "SELECT attname FROM pg_attribute"
            " WHERE attrelid = 'stocks'::regclass AND attnum > 0 AND NOT attisdropped"
        )
    }
    assert columns == {"ticker", "name", "exchange", "currency", "created_at"}
    with pytest.raises(asyncpg.UndefinedColumnError):
        await db.execute("INSERT INTO stocks (ticker, owner_id) VALUES ('X', NULL)")


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
    assert await policies(db, "policy_refresh_continuous_aggregate") == {
        f"{kind}_{level}": {"start_offset": start, "end_offset": end}
        for kind in ("prices", "telemetry")
        for level, start, end in (
            ("1m", "03:00:00", "00:01:00"),
            ("1h", "3 days", "01:00:00"),
            ("1d", "30 days", "1 day"),
        )
    }
    # Every level compressed past its refresh window; nothing dropped by default.
    compress = {"prices": "7 days", "telemetry": "7 days"}
    for level, after in (("1m", "7 days"), ("1h", "30 days"), ("1d", "90 days")):
        compress |= {f"prices_{level}": after, f"telemetry_{level}": after}
    assert await policies(db, "policy_compression", "compress_after") == compress
    assert await policies(db, "policy_retention") == {}
    segments = await db.fetch(
        """SELECT c.view_name, string_agg(s.attname, ', ' ORDER BY s.segmentby_column_index)
           FROM timescaledb_information.compression_settings s
           JOIN timescaledb_information.continuous_aggregates c
             ON (c.materialization_hypertable_schema, c.materialization_hypertable_name)
              = (s.hypertable_schema, s.hypertable_name)
           WHERE s.segmentby_column_index IS NOT NULL GROUP BY 1"""
    )
    assert dict(segments) == {  # a segment per series, as the API reads them
        name: "ticker" if name.startswith("prices") else "device_id, metric" for name in ROLLUPS
    }
    intervals = {
        r[0]: r[1]
        for r in await db.fetch(
            """SELECT c.view_name, d.time_interval FROM timescaledb_information.dimensions d
               JOIN timescaledb_information.continuous_aggregates c
                 ON (c.materialization_hypertable_schema, c.materialization_hypertable_name)
                  = (d.hypertable_schema, d.hypertable_name)"""
        )
    }
    sized = {"1m": timedelta(days=7), "1h": timedelta(days=90), "1d": timedelta(days=365)}
    assert intervals == {name: sized[name[-2:]] for name in ROLLUPS}

    # Settings, re-applied on every upgrade: raw retention brings the 1m level's (a year).
    upgrade(database_url, policies=MigrateSettings(retention_days=90).policies())
    kept = {"prices": "90 days", "telemetry": "90 days"}
    kept |= {"prices_1m": "365 days", "telemetry_1m": "365 days"}
    assert await policies(db, "policy_retention", "drop_after") == kept
    before = await db.fetchval("SELECT max(job_id) FROM timescaledb_information.jobs")
    upgrade(database_url, policies=MigrateSettings(retention_days=90).policies())
    assert await db.fetchval("SELECT max(job_id) FROM timescaledb_information.jobs") == before
    upgrade(database_url, policies=Policies())
    assert await policies(db, "policy_retention") == {}


def test_retention_settings_never_let_a_level_outlive_its_source() -> None:
    refused = [
        {"retention_days": 10},  # raw shorter than the 30-day window of the 1d refresh
        {"retention_1m_days": 100},  # raw rows kept, their 1m rollups dropped
        {"retention_days": 90, "retention_1m_days": 60},
        {"retention_days": 90, "retention_1h_days": 200},  # shorter than 1m's default year
        {"compress_1d_after_days": 10},  # inside the 1d level's refresh window
        {"compress_1m_after_days": -1},
    ]
    for values in refused:
        with pytest.raises(ValidationError):
            MigrateSettings(**values)  # type: ignore[arg-type]
    fine = MigrateSettings(retention_days=40, retention_1m_days=0, retention_1h_days=0)
    assert fine.policies().retention == {"raw": 40, "1m": 0, "1h": 0, "1d": 0}


async def policies(db: asyncpg.Connection, proc: str, key: str | None = None) -> dict[str, Any]:
    """relation → its `proc` job's config (or the config's `key`)."""
    rows = await db.fetch(
        "SELECT hypertable_name, config FROM timescaledb_information.jobs WHERE proc_name = $1",
        proc,
    )
    found = {}
    for name, config in rows:
        values = json.loads(config)
        found[name] = values[key] if key else {k: values[k] for k in ("start_offset", "end_offset")}
    return found


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


async def test_the_database_holds_the_alert_vocabulary_of_the_code(db: asyncpg.Connection) -> None:
    """Revision 0005's CHECK constraints list exactly the kinds of `AlertKind` and the states
    the alerts table allows, and refuse anything else (on both backends: plain tables)."""
    rows = await db.fetch(
        """SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conname IN ('alerts_kind_known', 'alert_rules_kind_known',
                             'alert_events_state_known')"""
    )
    listed = {table: set(re.findall(r"'([^']*)'", definition)) for table, definition in rows}
    assert listed == {
        "alerts": set(AlertKind),
        "alert_rules": set(RULE_KINDS),
        "alert_events": {"ACTIVE", "ACKED", "CLEARED"},
    }
    assert AlertKind.ONLINE not in RULE_KINDS
    alert = await db.fetchval(
        "INSERT INTO alerts (kind, subject) VALUES ('ONLINE', 'd') RETURNING id"
    )
    await db.execute("INSERT INTO alert_rules (name, kind) VALUES ('r', 'PRICE_BELOW')")
    await db.execute("INSERT INTO alert_events (alert_id, state) VALUES ($1, 'ACKED')", alert)
    for statement, value in [
        ("INSERT INTO alerts (kind, subject) VALUES ($1, 'd')", "high_temp"),
        ("INSERT INTO alerts (kind, subject) VALUES ($1, 'd')", ""),
        ("INSERT INTO alert_rules (name, kind) VALUES ('r', $1)", "ONLINE"),
        ("INSERT INTO alert_rules (name, kind) VALUES ('r', $1)", "HIGH_TEMP "),
        ("UPDATE alert_rules SET kind = $1", "PRICE"),
        (f"INSERT INTO alert_events (alert_id, state) VALUES ({alert}, $1)", "OPEN"),
    ]:
        with pytest.raises(asyncpg.CheckViolationError):
            await db.execute(statement, value)


async def test_the_audit_log_holds_the_actions_of_the_code(db: asyncpg.Connection) -> None:
    """Revision 0006's CHECK lists exactly `AuditAction`; the throttles' scopes are fixed."""
    definition = await db.fetchval(
        """SELECT pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = 'audit_log'::regclass AND contype = 'c'"""
    )
    assert set(re.findall(r"'([^']*)'", definition)) == set(AuditAction)
    await db.execute("INSERT INTO audit_log (action) VALUES ('login_failed')")
    for statement, value in [
        ("INSERT INTO audit_log (action) VALUES ($1)", "LOGIN_FAILED"),
        ("INSERT INTO audit_log (action) VALUES ($1)", "password"),
        ("INSERT INTO throttle_events (scope, key, at) VALUES ($1, 'k', now())", "logins"),
        (
            "INSERT INTO throttle_events (scope, key, at) VALUES ('registration', $1, now())",
            "k" * 201,
        ),
    ]:
        with pytest.raises(asyncpg.CheckViolationError):
            await db.execute(statement, value)
