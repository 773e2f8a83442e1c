"""/api routes: rolling statistics of a device's metrics over a trailing window."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.access import readable_device
from api.deps import CurrentUser, PoolDep
from api.history import series
from api.history.timerange import parse_instant

router = APIRouter()


class Window(enum.StrEnum):
    five_minutes = "5m"
    one_hour = "1h"
    one_day = "24h"


_SPANS = {
    Window.five_minutes: timedelta(minutes=5),
    Window.one_hour: timedelta(hours=1),
    Window.one_day: timedelta(hours=24),
}


class MetricStats(BaseModel):
    metric: str
    avg: float = Field(description="mean of the raw values in the window")
    count: int = Field(description="raw values in the window")
    min: float
    max: float


class RollingStats(BaseModel):
    device_id: str
    window: Window
    start: datetime = Field(description="window start (inclusive): end − window")
    end: datetime = Field(description="window end (exclusive)")
    sources: list[str] = Field(
        description="relations read, coarsest first: `telemetry_1d|1h|1m` for the whole "
        "buckets inside the window, `raw` for the partial minutes at its edges"
    )
    metrics: list[MetricStats] = Field(description="per metric with values in the window")


@router.get(
    "/stats/avg",
    response_model=RollingStats,
    summary="Rolling averages of a device's metrics over a trailing window",
    description="""
Per metric: average, count, minimum and maximum of the raw values in [end − window, end).
Answered from the rollups (whole 1d/1h/1m buckets inside the window) plus the raw rows of the
partial minutes at its edges, in one statement: equal to the same statistics computed from the
raw rows directly. `end` defaults to now; metrics without values in the window are left out.
`window` other than 5m, 1h, 24h: 422 `validation_error`; a device the user may not read: 404
`device_not_found`.
""",
)
async def rolling_averages(
    user: CurrentUser,
    pool: PoolDep,
    device_id: Annotated[str, Query(description="the device")],
    window: Annotated[Window, Query(description="trailing window")] = Window.one_hour,
    end: Annotated[
        str | None,
        Query(description="window end, ISO-8601 (naive means UTC) or epoch ms; default now"),
    ] = None,
) -> RollingStats:
    stop = parse_instant(end, "end") if end else datetime.now(UTC)
    start = stop - _SPANS[window]
    async with pool.acquire() as conn:
        await readable_device(conn, user, device_id)
        found = await series.stats(conn, device_id, start, stop)
    return RollingStats(
        device_id=device_id,
        window=window,
        start=start,
        end=stop,
        sources=found.sources,
        metrics=[MetricStats(**m) for m in found.metrics],
    )
