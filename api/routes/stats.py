"""/api routes: rolling statistics of a device's metrics over a trailing window."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.access import readable_device
from api.deps import CurrentUser, PoolDep
from api.error_codes import ErrorCode
from api.errors import Invalid
from api.history import series
from api.history.interval import UNITS
from api.history.timerange import parse_instant

router = APIRouter()


#: DESIGN.md, "Fleet and latest values": any `\d+(s|m|h|d)` from 1 s to 366 d.
WINDOW_SYNTAX: Final = re.compile(r"\d+(s|m|h|d)", re.ASCII)
SHORTEST: Final = timedelta(seconds=1)
LONGEST: Final = timedelta(days=366)
#: Significant digits beyond which any unit is past LONGEST (366 d = 31 622 400 s): never
#: handed to int(), which refuses over 4 300 digits.
_DIGITS: Final = 9
WINDOW_DOC: Final = "a whole number and a unit s, m, h or d (e.g. 90s, 5m, 1h, 24h, 7d), 1s…366d"


def parse_window(text: str) -> timedelta:
    """The span of a trailing window such as `5m`; `Invalid` (422 `invalid_window`) otherwise."""
    if WINDOW_SYNTAX.fullmatch(text) is None:
        raise Invalid(f"window must be {WINDOW_DOC}", code=ErrorCode.INVALID_WINDOW)
    digits = text[:-1].lstrip("0")
    span = int(digits or "0") * UNITS[text[-1]] if len(digits) <= _DIGITS else None
    if span is None or not SHORTEST <= span <= LONGEST:
        raise Invalid(
            f"window must be from 1s to 366d, not {text[:40]!r}", code=ErrorCode.INVALID_WINDOW
        )
    return span


class MetricStats(BaseModel):
    metric: str
    avg: float = Field(description="mean of the raw values in the window")
    count: int = Field(description="raw values in the window")
    min: float
    max: float


class RollingStats(BaseModel):
    device_id: str
    window: str = Field(description="the trailing window, as asked")
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
`window`: any whole number of seconds, minutes, hours or days from 1s to 366d (`90s`, `5m`,
`36h`, `7d`…), else 422 `invalid_window`; a device the user may not read: 404
`device_not_found`.
""",
)
async def rolling_averages(
    user: CurrentUser,
    pool: PoolDep,
    device_id: Annotated[str, Query(description="the device")],
    window: Annotated[str, Query(description=f"trailing window: {WINDOW_DOC}")] = "1h",
    end: Annotated[
        str | None,
        Query(description="window end, ISO-8601 (naive means UTC) or epoch ms; default now"),
    ] = None,
) -> RollingStats:
    stop = parse_instant(end, "end") if end else datetime.now(UTC)
    start = stop - parse_window(window)
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
