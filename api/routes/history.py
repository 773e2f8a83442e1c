"""/api routes: downsampled history, telemetry series and OHLCV candles, at a chosen resolution."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Final, Literal

import asyncpg
import orjson
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from api.access import DEVICE, readable_device, readable_stock, require_readable
from api.deps import CurrentUser, PoolDep, RangeDep
from api.error_codes import ErrorCode
from api.errors import Invalid
from api.history import candles, series
from api.history.interval import INTERVAL_DOC, label
from api.history.resolution import DEFAULT_POINTS, MAX_POINTS, Ask, Source, ask
from api.history.timerange import TimeRange
from tickwire.contract import METRIC_RE
from tickwire.timegrid import ORIGIN

router = APIRouter()
#: Devices one batched history call may name (`GET /api/telemetry/history`).
MAX_BATCH: Final = 100
_MS = timedelta(milliseconds=1)

Points = Annotated[
    int | None,
    Query(
        ge=2,
        le=MAX_POINTS,
        description=f"at most this many points per series (default {DEFAULT_POINTS}); "
        "not together with `interval`",
    ),
]
Every = Annotated[
    str | None,
    Query(
        alias="interval",
        max_length=20,
        description=f"explicit bucket width, {INTERVAL_DOC}; at most {MAX_POINTS} buckets over "
        "the range; not together with `points`",
    ),
]
SourceParam = Annotated[
    Source,
    Query(
        description="`auto`: raw rows or the rollups, whichever fits; `raw`: compute "
        "everything from raw rows (slower; for comparison)"
    ),
]


@dataclass
class Detail:
    """How fine a history answer is, as query parameters: `points`, `interval`, `source`."""

    points: Points = None
    every: Every = None
    source: SourceParam = Source.auto

    def ask(self, span: TimeRange) -> Ask:
        """What to fetch over `span` (422 for a bad or contradictory choice)."""
        return ask(span, self.points, self.every, self.source)


DetailDep = Annotated[Detail, Depends()]


class Resolution(BaseModel):
    start: datetime = Field(description="range start (inclusive)")
    end: datetime = Field(description="range end (exclusive)")
    source: str = Field(
        description="the coarsest relation read: `raw`, or a rollup such as `telemetry_1m`, "
        "`telemetry_1h`, `prices_1d`"
    )
    interval: str | None = Field(description="bucket width, e.g. `5m`; null for raw rows")
    interval_ms: int | None = Field(description="bucket width in milliseconds")
    max_points: int | None = Field(
        description="`points` asked for (or its default); null with an explicit `interval`"
    )


class TelemetryPoint(BaseModel):
    time: datetime = Field(description="the row's time, or the bucket's start")
    value: float = Field(description="the raw value, or the bucket's average")
    min: float | None = Field(None, description="bucket minimum (buckets only)")
    max: float | None = Field(None, description="bucket maximum (buckets only)")
    count: int | None = Field(None, description="raw rows in the bucket (buckets only)")
    last: float | None = Field(None, description="the bucket's latest value (buckets only)")


class TelemetrySeries(BaseModel):
    metric: str
    method: Literal["raw", "minmaxlttb", "bucket"] = Field(
        description="`raw`: every raw row; `minmaxlttb`: raw rows chosen by MinMaxLTTB; "
        "`bucket`: one point per bucket"
    )
    points: list[TelemetryPoint] = Field(description="in time order")


class TelemetryHistory(Resolution):
    device_id: str
    series: list[TelemetrySeries]


class TelemetryHistories(BaseModel):
    items: list[TelemetryHistory] = Field(description="one per distinct device, in id order")


class Candle(BaseModel):
    time: datetime = Field(description="the bucket's start")
    open: float = Field(description="price of the bucket's first tick by time")
    high: float
    low: float
    close: float = Field(description="price of the bucket's last tick by time")
    volume: float | None = Field(description="sum of the ticks' volumes (null if none had one)")
    count: int = Field(description="ticks in the bucket")


class StockHistory(Resolution):
    ticker: str
    method: Literal["bucket"]
    candles: list[Candle]


_COMMON_DOC = f"""
The range is half-open, [start, end) (default: the last hour). Give either `points` (at most
that many per series come back; default {DEFAULT_POINTS}) or an explicit `interval` (422
`points_and_interval` for both, `invalid_interval` for a bad width, `too_many_points` past
{MAX_POINTS} buckets).

Buckets lie on the grid of the rollups: `date_bin(interval, time, {ORIGIN:%Y-%m-%dT%H:%MZ})`, and
`time` is a bucket's start. With `points`, the width is the finest of 1s, 2s, 5s, 10s, 15s,
30s, 1m, 2m, 5m, 10m, 15m, 30m, 1h, 2h, 3h, 6h, 12h, 1d, 2d, 7d (then whole days) giving at most
`points` buckets over the range. Buckets without data are left out.

Values are exact for the range: every bucket aggregates exactly the raw rows of [start, end)
that fall in it. The server reads whole buckets of the coarsest rollup whose width divides the
interval (`source` names it), finer rollups towards the edges and raw rows in the partial
minutes at either end, and re-aggregates them (count and sum add up, average = Σsum / Σcount,
min of minimums, max of maximums, last/close by time, open by time).
"""

_TELEMETRY_DOC = f"""
One series per metric (only `metric` when given; metrics without rows in the range are left
out). `method` says what each series holds:

- `raw`: every raw row (`time`, `value`), when the range is short enough that buckets would be
  finer than a minute (`points` given, e.g. under about 8 h at 1000 points) and there are no
  more than `points` rows;
- `minmaxlttb`: in that same case, with more rows than `points`: `points` raw rows selected by
  MinMaxLTTB (tsdownsample), so spikes stay visible; `interval` is then null and
  `source` is `raw`;
- `bucket`: otherwise (or with `interval`): per bucket, `value` = average, with `min`, `max`,
  `count`, `last`. (Also when a short range holds over {series.RAW_FETCH_MAX} raw rows: then
  sub-minute buckets computed from raw rows.)
{_COMMON_DOC}
Example: `{{"device_id": "dev-1", "start": "2024-03-04T00:00:00Z", "end": "2024-03-05T00:00:00Z",
"source": "telemetry_1m", "interval": "2m", "interval_ms": 120000, "max_points": 1000,
"series": [{{"metric": "temperature", "method": "bucket", "points": [{{"time":
"2024-03-04T00:00:00Z", "value": 21.4, "min": 21.1, "max": 21.9, "count": 120, "last": 21.2}},
…]}}]}}`
"""

_CANDLES_DOC = f"""
OHLCV candles: per bucket the open (first tick by time), high, low, close (last tick by time),
volume (sum) and tick count. Candles finer than a minute, or of widths no rollup divides, come
from raw ticks; others from `prices_1m|1h|1d` plus raw ticks at the edges, and always equal
candles recomputed from the raw ticks. (Which of several ticks at the very same instant, from
different sources, is the open or close is not specified.)
{_COMMON_DOC}
Example: `{{"ticker": "AAPL", "start": …, "end": …, "source": "prices_1h", "interval": "1h",
"interval_ms": 3600000, "max_points": 1000, "method": "bucket", "candles": [{{"time":
"2024-03-04T14:00:00Z", "open": 150.1, "high": 151.0, "low": 149.8, "close": 150.7,
"volume": 120450.0, "count": 3600}}, …]}}`
"""


def _resolution(wanted: Ask, source: str, bucketed: bool) -> dict[str, Any]:
    width = wanted.width if bucketed else None
    return {
        "start": wanted.start,
        "end": wanted.end,
        "source": source,
        "interval": label(width) if width is not None else None,
        "interval_ms": width // _MS if width is not None else None,
        "max_points": wanted.points,
    }


def _json(body: dict[str, Any]) -> Response:
    """Rendered with orjson: bodies of thousands of points, already in their final shape."""
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")


@router.get(
    "/devices/{device_id}/telemetry",
    response_model=TelemetryHistory,
    summary="Telemetry history of a device, at an automatic or explicit resolution",
    description=_TELEMETRY_DOC,
)
async def device_telemetry(
    device_id: str,
    user: CurrentUser,
    pool: PoolDep,
    detail: DetailDep,
    span: RangeDep,
    metric: Annotated[
        str | None,
        Query(pattern=f"^{METRIC_RE.pattern}$", description="one metric; default every metric"),
    ] = None,
) -> Response:
    wanted = detail.ask(span)
    async with pool.acquire() as conn:
        await readable_device(conn, user, device_id)
        return _json(await _telemetry_body(conn, device_id, metric, wanted))


async def _telemetry_body(
    conn: asyncpg.Connection, device_id: str, metric: str | None, wanted: Ask
) -> dict[str, Any]:
    """One device's answer, as `GET /api/devices/{id}/telemetry` gives it."""
    answer = await series.telemetry(conn, device_id, metric, wanted)
    body: dict[str, Any] = {"device_id": device_id}
    body |= _resolution(wanted, answer.source, answer.width is not None)
    body["series"] = [
        {"metric": s.metric, "method": s.method, "points": s.points} for s in answer.series
    ]
    return body


@router.get(
    "/telemetry/history",
    response_model=TelemetryHistories,
    summary="Telemetry history of many devices in one call",
    description=f"""
The history of each device named by `device_id` (repeatable, at most {MAX_BATCH} values, else
422 `too_many_subjects`; a repeated id is answered once), each item exactly what
`GET /api/devices/{{id}}/telemetry` answers with the same `metric`, range and `points` or
`interval` (the same resolution for every device), in device id order. All or nothing: one
device the caller may not read (or that does not exist) makes the whole call a 404
`device_not_found`, so it never tells which of them exist. For a dashboard panel of many
devices: one call instead of one per device.
{_TELEMETRY_DOC}""",
)
async def many_telemetry(
    user: CurrentUser,
    pool: PoolDep,
    detail: DetailDep,
    span: RangeDep,
    device_id: Annotated[list[str], Query(description="a device (repeatable)")],
    metric: Annotated[
        str | None,
        Query(pattern=f"^{METRIC_RE.pattern}$", description="one metric; default every metric"),
    ] = None,
) -> Response:
    if len(device_id) > MAX_BATCH:
        raise Invalid(f"at most {MAX_BATCH} devices in one call", code=ErrorCode.TOO_MANY_SUBJECTS)
    wanted = detail.ask(span)
    devices = sorted(set(device_id))
    async with pool.acquire() as conn:
        await require_readable(conn, user, DEVICE, devices)
        items = [await _telemetry_body(conn, d, metric, wanted) for d in devices]
    return _json({"items": items})


@router.get(
    "/stocks/{ticker}/history",
    response_model=StockHistory,
    summary="OHLCV candles of a stock, at an automatic or explicit resolution",
    description=_CANDLES_DOC,
)
async def stock_history(
    ticker: str,
    user: CurrentUser,
    pool: PoolDep,
    detail: DetailDep,
    span: RangeDep,
) -> Response:
    wanted = detail.ask(span)
    async with pool.acquire() as conn:
        await readable_stock(conn, user, ticker)
        used, rows = await candles.candles(conn, ticker, wanted)
    body: dict[str, Any] = {"ticker": ticker, "method": "bucket"}
    body |= _resolution(wanted, used, True)
    body["candles"] = rows
    return _json(body)
