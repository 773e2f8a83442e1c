"""What the alert engine evaluates, read from the database: enabled rules, watchlist levels,
devices (owner, timeout, status, last receive time) and the open alerts.

The engine reads it all again when `tickwire_config` is notified by alert_rules, watchlist or
users, whoever made the change; a device registered, changed or deleted is notified by name
(`devices:<op>:<id>`, migration 0013) and only that device is read again (`load_devices`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from tickwire.alert_kinds import DEVICE_KINDS


@dataclass(frozen=True, slots=True)
class AlertKey:
    """What identifies an open alert (the unique index `alerts_one_open_per_owner`)."""

    kind: str
    rule_id: int | None
    subject: str
    owner_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    owner_id: uuid.UUID | None
    name: str
    kind: str
    device_id: str | None
    ticker: str | None
    metric: str | None
    operator: str | None
    threshold: float | None
    duration_s: float
    window_s: float | None
    hysteresis: float
    severity: str
    device_kind: str | None = None
    """A fleet rule (no `device_id`): only devices of this kind."""


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    owner_id: uuid.UUID | None
    status: str
    last_seen: datetime | None
    offline_timeout_s: float
    kind: str = "sensor"


@dataclass(frozen=True, slots=True)
class WatchLevel:
    user_id: uuid.UUID
    ticker: str
    above: float | None
    below: float | None


@dataclass(frozen=True, slots=True)
class OpenAlert:
    id: int
    key: AlertKey
    state: str


@dataclass(slots=True)
class Config:
    rules: list[Rule] = field(default_factory=list)
    devices: dict[str, Device] = field(default_factory=dict)
    watch: list[WatchLevel] = field(default_factory=list)
    admins: frozenset[uuid.UUID] = frozenset()
    """Users who may read every device: their fleet rules cover the whole fleet."""


_RULE_COLUMNS = ", ".join(Rule.__dataclass_fields__)
_DEVICE_COLUMNS = ", ".join(Device.__dataclass_fields__)


async def load(conn: asyncpg.Connection) -> Config:
    """Everything, in one snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rules = await conn.fetch(
            f"SELECT {_RULE_COLUMNS} FROM alert_rules WHERE enabled ORDER BY id"
        )
        devices = await conn.fetch(f"SELECT {_DEVICE_COLUMNS} FROM devices")
        watch = await conn.fetch(
            """SELECT user_id, ticker, alert_above AS above, alert_below AS below
               FROM watchlist WHERE alert_above IS NOT NULL OR alert_below IS NOT NULL
               ORDER BY user_id, ticker"""
        )
        admins = await conn.fetch("SELECT id FROM users WHERE is_superuser AND is_active")
    return Config(
        rules=[Rule(**dict(r)) for r in rules],
        devices={r["device_id"]: Device(**dict(r)) for r in devices},
        watch=[WatchLevel(**dict(r)) for r in watch],
        admins=frozenset(r["id"] for r in admins),
    )


async def load_open(conn: asyncpg.Connection) -> dict[AlertKey, OpenAlert]:
    """Alerts not CLEARED (ACTIVE or ACKED), by key."""
    rows = await conn.fetch(
        "SELECT id, kind, rule_id, subject, owner_id, state FROM alerts WHERE state <> 'CLEARED'"
    )
    keyed = [(key_of(r), r) for r in rows]
    return {key: OpenAlert(r["id"], key, r["state"]) for key, r in keyed}


async def load_devices(
    conn: asyncpg.Connection, device_ids: Collection[str]
) -> tuple[dict[str, Device], dict[AlertKey, OpenAlert]]:
    """These devices (those that exist) and their open alerts, in one snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        devices = await conn.fetch(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE device_id = ANY($1::text[])",
            list(device_ids),
        )
        alerts = await conn.fetch(
            """SELECT id, kind, rule_id, subject, owner_id, state FROM alerts
               WHERE state <> 'CLEARED' AND subject = ANY($1::text[]) AND kind = ANY($2::text[])""",
            list(device_ids),
            sorted(str(kind) for kind in DEVICE_KINDS),
        )
    keyed = [(key_of(r), r) for r in alerts]
    return (
        {r["device_id"]: Device(**dict(r)) for r in devices},
        {key: OpenAlert(r["id"], key, r["state"]) for key, r in keyed},
    )


def key_of(row: Any) -> AlertKey:
    return AlertKey(row["kind"], row["rule_id"], row["subject"], row["owner_id"])
