"""/api/export/telemetry and /api/export/prices: a time range as CSV, JSON, NDJSON or XML.

Streamed from one COPY in a read-only snapshot (api/export/streaming.py), rows in time order,
times ISO-8601 UTC with microseconds. A user exports only what they may read; an admin all.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Header, Query
from pydantic import BaseModel

from api import access
from api.deps import CurrentUser, PoolDep, RangeDep
from api.error_codes import ErrorCode
from api.errors import ErrorBody, Invalid
from api.export.exporters import EXPORTERS, Exporter
from api.export.negotiation import choose
from api.export.query import PRICES, TELEMETRY, Selection, Statement, statement
from api.export.streaming import ExportResponse, export_body
from tickwire.contract import METRIC_RE

router = APIRouter()

_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")

Format = Annotated[
    str | None,
    Query(
        alias="format",
        description="csv, json (an array), ndjson or xml; wins over the Accept header",
        json_schema_extra={"enum": list(EXPORTERS)},
    ),
]
Accept = Annotated[
    str | None,
    Header(
        description="text/csv, application/json, application/x-ndjson or application/xml "
        "(q-values honoured); absent or */* → JSON; none acceptable → 406 `not_acceptable`",
    ),
]

_FORMATS_DOC = (
    "The format comes from `format=` or else the `Accept` header; an unknown `format` is "
    "422 `invalid_format`, an Accept header that allows none of the four is 406 "
    "`not_acceptable`. The body is streamed (constant memory on the server) from one "
    "consistent snapshot, rows in time order, times ISO-8601 UTC with microseconds; "
    "`Content-Disposition` names the file. The range is [start, end), by default the last hour."
)


class TelemetryRow(BaseModel):
    """One exported reading (a CSV row, an NDJSON line, an array item, an XML `<row>`)."""

    time: datetime
    device_id: str
    metric: str
    value: float


class PriceRow(BaseModel):
    """One exported tick; `volume` is null (CSV: empty; XML: no element) when unknown."""

    time: datetime
    ticker: str
    price: float
    volume: float | None
    source: str


def _responses(row: type[BaseModel], root: str) -> dict[int | str, dict[str, Any]]:
    text = {"schema": {"type": "string"}}
    return {
        200: {
            "model": list[row],  # type: ignore[valid-type]
            "description": f"the rows; XML: `<{root}><row>…</row></{root}>`",
            "content": {"text/csv": text, "application/x-ndjson": text, "application/xml": text},
        },
        406: {"model": ErrorBody, "description": "no acceptable format"},
    }


@router.get(
    "/export/telemetry",
    summary="Export telemetry",
    description="Readings of a device (or of every device the caller may read), optionally of "
    "one metric, columns `time, device_id, metric, value`. " + _FORMATS_DOC,
    response_model=None,
    responses=_responses(TelemetryRow, "telemetry"),
)
async def export_telemetry(
    pool: PoolDep,
    user: CurrentUser,
    span: RangeDep,
    device_id: Annotated[
        str | None, Query(description="only this device (404 if not readable); default all")
    ] = None,
    metric: Annotated[str | None, Query(description="only this metric")] = None,
    format_: Format = None,
    accept: Accept = None,
) -> ExportResponse:
    exporter = choose(format_, accept)
    equal: list[tuple[str, str]] = []
    if device_id is not None:
        await access.readable_device(pool, user, device_id)
        equal.append(("device_id", device_id))
    if metric is not None:
        if not METRIC_RE.fullmatch(metric):
            raise Invalid("metric is not a valid metric name", code=ErrorCode.INVALID_METRIC)
        equal.append(("metric", metric))
    owner = None if device_id is not None else access.owner_filter(user)
    chosen = Selection(TELEMETRY, span, tuple(equal), owner)
    return _respond(pool, exporter, chosen, [device_id or "all", metric])


@router.get(
    "/export/prices",
    summary="Export prices",
    description="Ticks of a stock (or of every stock the caller may read: shared market data "
    "and their own), columns `time, ticker, price, volume, source`. " + _FORMATS_DOC,
    response_model=None,
    responses=_responses(PriceRow, "prices"),
)
async def export_prices(
    pool: PoolDep,
    user: CurrentUser,
    span: RangeDep,
    ticker: Annotated[
        str | None, Query(description="only this ticker (404 if not readable); default all")
    ] = None,
    format_: Format = None,
    accept: Accept = None,
) -> ExportResponse:
    exporter = choose(format_, accept)
    equal: list[tuple[str, str]] = []
    if ticker is not None:
        await access.readable_stock(pool, user, ticker)
        equal.append(("ticker", ticker))
    owner = None if ticker is not None else access.owner_filter(user)
    chosen = Selection(PRICES, span, tuple(equal), owner)
    return _respond(pool, exporter, chosen, [ticker or "all"])


def _respond(
    pool: asyncpg.Pool, exporter: Exporter, chosen: Selection, subject: list[str | None]
) -> ExportResponse:
    async def plan(conn: asyncpg.Connection) -> Statement:
        return await statement(conn, exporter, chosen)

    table = chosen.dataset.table
    name = filename(table, subject, chosen, exporter.name)
    return ExportResponse(export_body(pool, plan, exporter, table), exporter, name)


def filename(table: str, subject: list[str | None], chosen: Selection, extension: str) -> str:
    """`telemetry_dev-1_20260101T000000Z_20260131T000000Z.csv`: safe in a quoted header."""
    stamps = (f"{t:%Y%m%dT%H%M%SZ}" for t in (chosen.span.start, chosen.span.end))
    parts = [table, *(_UNSAFE_IN_FILENAME.sub("_", s) for s in subject if s), *stamps]
    return "_".join(parts) + "." + extension
