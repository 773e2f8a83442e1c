"""`GET /metrics`: Prometheus exposition of the ingester's counters, the fleet and the API.

The ingester writes its counters into `ingest_status` in every batch's transaction, so any API
replica reports every ingester; request counts, latencies and streams are this process's own
(api/metrics.py).
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from api.deps import PoolDep
from api.metrics import API_REGISTRY
from api.settings import ApiSettings

router = APIRouter()
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="MetricsToken",
    description="`TICKWIRE_METRICS_TOKEN`, when it is set (Prometheus: `authorization`).",
)
_INGEST_COUNTERS = (
    ("received", "messages received"),
    ("committed_rows", "rows committed"),
    ("duplicates", "rows skipped as already stored (redelivery, replay)"),
    ("dead_lettered", "messages or parts kept as dead letters"),
    ("batches", "batches committed"),
    ("batch_seconds", "seconds spent writing batches"),
    ("retained_ignored", "retained messages sent for a subscription: acknowledged, not ingested"),
)


class _Snapshot(Collector):
    """Families built from one database read at scrape time."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> Any:
        return iter(self.families)


async def scraper(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> None:
    """With `TICKWIRE_METRICS_TOKEN` set, only `Authorization: Bearer <it>` reads the metrics
    (compared in constant time); unset, anyone who reaches the port does, as `/health`."""
    settings: ApiSettings = request.state.settings
    expected = settings.metrics_token
    if expected is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            401, "the metrics token is required", headers={"WWW-Authenticate": "Bearer"}
        )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain; version=0.0.4": {}}},
        401: {"description": "`TICKWIRE_METRICS_TOKEN` is set and not sent as the bearer token"},
    },
    dependencies=[Depends(scraper)],
)
async def metrics(pool: PoolDep) -> Response:
    """Ingest counters per ingester instance (`tickwire_ingest_*_total`), the last commit
    time, dead letters by reason, devices by status, rollup windows pending a refresh, and this
    API process's requests."""
    registry = CollectorRegistry()
    registry.register(_Snapshot(await _database_families(pool)))
    body = generate_latest(registry) + generate_latest(API_REGISTRY)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


async def _database_families(pool: PoolDep) -> list[Any]:
    async with pool.acquire() as conn:
        status = await conn.fetch("SELECT * FROM ingest_status ORDER BY instance")
        dead = await conn.fetch("SELECT reason, count(*) AS n FROM dead_letters GROUP BY reason")
        devices = await conn.fetch("SELECT status, count(*) AS n FROM devices GROUP BY status")
        pending = await conn.fetch(
            """SELECT relation, count(*) AS n, sum(attempts) AS failures,
                      extract(epoch FROM now() - min(recorded_at)) AS age
               FROM rollup_pending GROUP BY relation"""
        )
        notifications = await _notification_families(conn)
    families: list[Any] = notifications
    for column, text in _INGEST_COUNTERS:
        family = CounterMetricFamily(f"tickwire_ingest_{column}", text, labels=["instance"])
        for row in status:
            family.add_metric([row["instance"]], float(row[column]))
        families.append(family)
    last = GaugeMetricFamily(
        "tickwire_ingest_last_commit_timestamp_seconds",
        "when the instance last committed a batch",
        labels=["instance"],
    )
    for row in status:
        if row["last_commit_at"] is not None:
            last.add_metric([row["instance"]], row["last_commit_at"].timestamp())
    families.append(last)
    families.append(_by("tickwire_dead_letters", "dead letters stored, by reason", "reason", dead))
    families.append(_by("tickwire_devices", "registered devices, by status", "status", devices))
    families += _rollup_families(pending)
    return families


async def _notification_families(conn: Any) -> list[Any]:
    """Notifications (notify/): deliveries kept by channel kind and status (`sent`, `pending`:
    being retried or not tried yet, `failed`: given up), attempts by kind and outcome, and the
    changes waiting in the outbox."""
    deliveries = await conn.fetch(
        """SELECT c.kind, d.status, count(*) AS n FROM notification_deliveries d
           JOIN notification_channels c ON c.id = d.channel_id GROUP BY c.kind, d.status"""
    )
    attempts = await conn.fetch(
        """SELECT c.kind, CASE WHEN t.ok THEN 'ok' ELSE 'error' END AS outcome, count(*) AS n
           FROM notification_attempts t JOIN notification_deliveries d ON d.id = t.delivery_id
           JOIN notification_channels c ON c.id = d.channel_id GROUP BY 1, 2"""
    )
    waiting = await conn.fetchval("SELECT count(*) FROM notification_outbox")
    by_status = GaugeMetricFamily(
        "tickwire_notification_deliveries",
        "notification deliveries kept, by channel kind and status (sent, pending, failed)",
        labels=["kind", "status"],
    )
    for row in deliveries:
        by_status.add_metric([row["kind"], row["status"]], float(row["n"]))
    tries = GaugeMetricFamily(
        "tickwire_notification_attempts",
        "attempts at notification deliveries, by channel kind and outcome (ok, error: retried "
        "or, at the end, failed)",
        labels=["kind", "outcome"],
    )
    for row in attempts:
        tries.add_metric([row["kind"], row["outcome"]], float(row["n"]))
    outbox = GaugeMetricFamily(
        "tickwire_notification_outbox", "alert changes not yet fanned out to channels"
    )
    outbox.add_metric([], float(waiting))
    return [by_status, tries, outbox]


def _rollup_families(pending: list[Any]) -> list[Any]:
    """Rollup windows committed rows wait for: TimescaleDB, late rows' refresh
    (ingest/refresher.py); plain PostgreSQL, the merge of appended partials (ingest/merger.py,
    seconds). Answers read raw rows there meanwhile."""
    windows = _by(
        "tickwire_rollup_pending_windows",
        "rollup windows recorded for a refresh and not refreshed yet, by relation",
        "relation",
        pending,
    )
    failures = GaugeMetricFamily(
        "tickwire_rollup_refresh_failures",
        "failed refreshes of the windows still pending (waits for a concurrent refresh not "
        "counted), by relation",
        labels=["relation"],
    )
    oldest = GaugeMetricFamily(
        "tickwire_rollup_pending_oldest_seconds",
        "age of the oldest pending rollup window, by relation",
        labels=["relation"],
    )
    for row in pending:
        failures.add_metric([row["relation"]], float(row["failures"]))
        oldest.add_metric([row["relation"]], float(row["age"]))
    return [windows, failures, oldest]


def _by(name: str, text: str, label: str, rows: list[Any]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=[label])
    for row in rows:
        family.add_metric([row[label]], float(row["n"]))
    return family
