"""Threshold runs in progress (`alert_runs`): since when the condition of a rule with a
duration has held. Written in the transaction that moves the engine's cursor, read by a new
leader, so a rule's `for` counts across a failover from where the old leader left it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping

import asyncpg

from ingest.alerts.conditions import Level, PriceMove
from ingest.alerts.config import AlertKey


def key_text(key: AlertKey) -> str:
    owner = None if key.owner_id is None else str(key.owner_id)
    return json.dumps([key.kind, key.rule_id, key.subject, owner])


def _key(text: str) -> AlertKey:
    kind, rule_id, subject, owner = json.loads(text)
    return AlertKey(kind, rule_id, subject, None if owner is None else uuid.UUID(owner))


def level_of(machine: Level | PriceMove) -> Level:
    return machine.level if isinstance(machine, PriceMove) else machine


async def load(conn: asyncpg.Connection) -> dict[AlertKey, float]:
    rows = await conn.fetch("SELECT key, since FROM alert_runs")
    return {_key(row["key"]): row["since"] for row in rows}


def restore(machines: Mapping[AlertKey, Level | PriceMove], runs: Mapping[AlertKey, float]) -> None:
    """Resume the runs of inactive machines that still exist."""
    for key, since in runs.items():
        machine = machines.get(key)
        if machine is not None and not machine.active:
            level_of(machine).since = since


async def save(
    conn: asyncpg.Connection,
    machines: Mapping[AlertKey, Level | PriceMove],
    keys: Iterable[AlertKey],
) -> None:
    """Store the runs of `keys` as their machines hold them now (none: deleted)."""
    ended: list[str] = []
    going: list[tuple[str, float]] = []
    for key in keys:
        machine = machines.get(key)
        since = None if machine is None else level_of(machine).since
        (ended.append(key_text(key)) if since is None else going.append((key_text(key), since)))
    if ended:
        await conn.execute("DELETE FROM alert_runs WHERE key = any($1::text[])", ended)
    if going:
        await conn.execute(
            """INSERT INTO alert_runs (key, since) SELECT * FROM unnest($1::text[], $2::float8[])
               ON CONFLICT (key) DO UPDATE SET since = excluded.since""",
            [k for k, _ in going],
            [s for _, s in going],
        )
