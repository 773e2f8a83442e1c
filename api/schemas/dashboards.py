"""The dashboard model of DESIGN.md "Dashboards": the body of /api/dashboards, the export and
import format, and what a file in `TICKWIRE_DASHBOARDS_DIR` holds.

Strict as every body (`Input`): unknown fields, wrong types and over-long lists are 422 with
the path of the error. What one field cannot check alone (panels inside the 24-column grid,
`$name` naming a declared variable, unique ids and names) is checked by `problems`, which
answers errors in the same shape as FastAPI's.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from api.schemas.common import DEVICE_ID_RE, METRIC_RE, TICKER_RE, Input, Text, UserId
from tickwire import indicators

COLUMNS = 24
MAX_PANELS = 100
MAX_VARIABLES = 20
MAX_TARGETS = 20
PANEL_TYPES = ("timeseries", "candlestick", "stat", "gauge", "table", "bar", "alerts", "text")
VARIABLE_KINDS = ("device", "ticker", "metric", "custom")
#: Types without targets: a copy per value would be the same panel (dashboard/boards/repeat.py).
NOT_REPEATED = ("text", "alerts")
#: A candlestick panel's indicators at most (one call of the indicators API, which takes 20).
MAX_INDICATORS = 10

UID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
VAR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
#: `$name` in a target: the variable's value(s) at view time.
VAR_REF_RE = re.compile(r"\$(" + VAR_NAME_RE.pattern + ")")
_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
#: `now`, `now-6h` (s, m, h, d, w) or an ISO 8601 time with its offset.
RELATIVE_RE = re.compile(r"now(-[0-9]{1,6}[smhdw])?")

Uid = Annotated[str, StringConstraints(pattern=f"^{UID_RE.pattern}$")]
VarName = Annotated[str, StringConstraints(pattern=f"^{VAR_NAME_RE.pattern}$")]
Title = Annotated[str, StringConstraints(max_length=200, pattern=_NO_CONTROL)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=_NO_CONTROL)]
#: A variable's value: a device id, a ticker, a metric or free text, as its kind says.
Value = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_NO_CONTROL)]
#: `#rgb`, `#rrggbb` or a CSS colour name: safe inside a style.
Color = Annotated[
    str, StringConstraints(pattern=r"^(#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6}|[a-z]{3,20})$")
]
Finite = Annotated[float, Field(ge=-1e15, le=1e15, strict=False)]


def _subject(pattern: re.Pattern[str]) -> StringConstraints:
    """A literal id of `pattern`, or `$name`."""
    return StringConstraints(pattern=f"^({pattern.pattern}|\\${VAR_NAME_RE.pattern})$")


class Grid(Input):
    x: Annotated[int, Field(ge=0, le=COLUMNS - 1)]
    y: Annotated[int, Field(ge=0, le=10_000)]
    w: Annotated[int, Field(ge=1, le=COLUMNS)]
    h: Annotated[int, Field(ge=1, le=100)]


class Target(Input):
    """One series: a device's metric or a ticker (any may be `$name`)."""

    device_id: Annotated[str, _subject(DEVICE_ID_RE)] | None = None
    ticker: Annotated[str, _subject(TICKER_RE)] | None = None
    metric: Annotated[str, _subject(METRIC_RE)] | None = None

    @model_validator(mode="after")
    def _one_subject(self) -> Target:
        if (self.device_id is None) == (self.ticker is None):
            raise ValueError("a target names exactly one of device_id and ticker")
        if self.ticker is not None and self.metric is not None:
            raise ValueError("metric is for a device target")
        return self


class Threshold(Input):
    value: Finite
    color: Color


Period = Annotated[int, Field(ge=1, le=indicators.MAX_PERIOD)]


class Indicator(Input):
    """One of a candlestick panel's indicators: the indicators API's name and its parameters as
    fields (`{"name": "macd", "fast": 12, "slow": 26, "signal": 9}` is `macd:12:26:9`); which
    fields a name takes, and their ranges, are the API's (`problems` checks them)."""

    name: Literal["sma", "ema", "bbands", "rsi", "macd", "atr", "obv", "vwap"]
    period: Period | None = None
    """`sma`, `ema`, `rsi`, `atr`, `bbands`."""
    stddev: Annotated[float, Field(gt=0, le=10)] | None = None
    """`bbands`: the bands' width in standard deviations."""
    fast: Period | None = None
    """`macd`: fast and slow averages (fast < slow), and the signal's."""
    slow: Period | None = None
    signal: Period | None = None

    def given(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class PanelOptions(Input):
    """What some panel types read; every key optional."""

    content: Annotated[str, Field(max_length=20_000)] | None = None
    """`text`: Markdown (rendered without HTML)."""
    unit: Annotated[str, Field(max_length=20, pattern=_NO_CONTROL)] | None = None
    min: Finite | None = None
    """`gauge`: the scale's ends (default 0 and 100)."""
    max: Finite | None = None
    decimals: Annotated[int, Field(ge=0, le=10)] | None = None
    state: Literal["active", "acked", "cleared"] | None = None
    """`alerts`: only alerts in this state."""
    limit: Annotated[int, Field(ge=1, le=100)] | None = None
    """`alerts`, `table`: rows shown."""
    repeat: VarName | None = None
    """A multi variable: the panel is drawn once per chosen value (not `text`, `alerts`)."""
    max_per_row: Annotated[int, Field(ge=1, le=COLUMNS)] | None = None
    """A repeated panel's copies side by side at most (default 4, Grafana's `maxPerRow`)."""
    indicators: Annotated[list[Indicator], Field(max_length=MAX_INDICATORS)] | None = None
    """`candlestick`: overlays on the price (sma, ema, bbands, vwap) and sub-plots under the
    volume (rsi, macd, atr, obv), each the indicators API's numbers."""


class Panel(Input):
    id: Annotated[int, Field(ge=1, le=1_000_000)]
    type: Literal["timeseries", "candlestick", "stat", "gauge", "table", "bar", "alerts", "text"]
    title: Title = ""
    grid: Grid
    targets: Annotated[list[Target], Field(max_length=MAX_TARGETS, default_factory=list)]
    options: PanelOptions = Field(default_factory=PanelOptions)
    thresholds: Annotated[list[Threshold], Field(max_length=10, default_factory=list)]


class Variable(Input):
    name: VarName
    kind: Literal["device", "ticker", "metric", "custom"]
    multi: bool = False
    options: Annotated[list[Value], Field(max_length=200)] | None = None
    """The choices; absent → for device/ticker/metric, those the viewer may read."""
    default: Value | Annotated[list[Value], Field(max_length=200)] | None = None


class TimeWindow(Input):
    from_: Annotated[str, Field(alias="from", max_length=40)] = "now-6h"
    to: Annotated[str, Field(max_length=40)] = "now"

    model_config = Input.model_config | {"populate_by_name": True}

    @model_validator(mode="after")
    def _times(self) -> TimeWindow:
        for value in (self.from_, self.to):
            if RELATIVE_RE.fullmatch(value) is None and _absolute(value) is None:
                raise ValueError(f"{value!r} is neither now[-N(s|m|h|d|w)] nor an ISO time")
        return self


def _absolute(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class Meta(Input):
    """What GET adds to the model; accepted back (and ignored) so an export imports as is."""

    owner_id: UserId | None = None
    provisioned: bool = False
    can_edit: bool = False
    created_at: Annotated[AwareDatetime, Field(strict=False)] | None = None
    updated_at: Annotated[AwareDatetime, Field(strict=False)] | None = None


class Dashboard(Input):
    uid: Uid | None = None
    title: Text
    tags: Annotated[list[Tag], Field(max_length=20, default_factory=list)]
    time: TimeWindow = Field(default_factory=TimeWindow)
    refresh: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,4}[smh]$")] | None = None
    variables: Annotated[list[Variable], Field(max_length=MAX_VARIABLES, default_factory=list)]
    panels: Annotated[list[Panel], Field(max_length=MAX_PANELS, default_factory=list)]
    shared_with: Annotated[list[UserId], Field(max_length=100, default_factory=list)]
    version: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    """Required by PUT (the version read); ignored by POST."""
    meta: Meta | None = None

    def stored(self) -> dict[str, Any]:
        """The JSON kept in the `model` column (uid, version, sharing and meta are columns)."""
        kept = self.model_dump(
            mode="json",
            by_alias=True,
            exclude={"uid", "version", "shared_with", "meta"},
            exclude_none=True,  # an absent optional stays absent: the export is what was sent
        )
        return kept | {"refresh": self.refresh}


def problems(dashboard: Dashboard) -> list[dict[str, Any]]:
    """What the fields cannot check alone, as `{"loc", "msg", "type"}` (loc from `body`)."""
    found: list[dict[str, Any]] = []

    def add(loc: list[str | int], msg: str, kind: str) -> None:
        found.append({"loc": ["body", *loc], "msg": msg, "type": kind})

    names = [v.name for v in dashboard.variables]
    multi = {v.name for v in dashboard.variables if v.multi}
    for i, name in enumerate(names):
        if name in names[:i]:
            add(["variables", i, "name"], f"variable {name!r} is declared twice", "duplicate")
    ids: set[int] = set()
    for i, panel in enumerate(dashboard.panels):
        if panel.id in ids:
            add(["panels", i, "id"], f"panel id {panel.id} is used twice", "duplicate")
        ids.add(panel.id)
        for loc, msg, kind in _panel_problems(panel, names, multi):
            add(["panels", i, *loc], msg, kind)
    return found


Problem = tuple[list[str | int], str, str]
"""A path (under what is checked), a message and a type."""


def _panel_problems(panel: Panel, names: list[str], multi: set[str]) -> list[Problem]:
    """One panel's problems (paths from the panel) that its fields cannot check alone."""
    found: list[Problem] = []
    if panel.grid.x + panel.grid.w > COLUMNS:
        found.append((["grid"], f"x + w must be at most {COLUMNS}", "grid"))
    why = _no_repeat(panel, multi)
    if why is not None:
        found.append((["options", "repeat"], why, "repeat"))
    for loc, msg, kind in _indicator_problems(panel):
        found.append((["options", "indicators", *loc], msg, kind))
    for j, field, name in _references(panel):
        if name not in names:
            found.append((["targets", j, field], f"unknown variable ${name}", "unknown_variable"))
    return found


def _references(panel: Panel) -> list[tuple[int, str, str]]:
    """Each `$name` in the panel's targets, as (target index, field, name)."""
    found = []
    for j, target in enumerate(panel.targets):
        for field in ("device_id", "ticker", "metric"):
            value = getattr(target, field)
            ref = VAR_REF_RE.fullmatch(value) if value else None
            if ref is not None:
                found.append((j, field, ref.group(1)))
    return found


def _indicator_problems(panel: Panel) -> list[Problem]:
    """Why the panel's indicators are refused (paths under `options.indicators`): only on
    candlestick panels; each with exactly its name's parameters, accepted by the indicators
    API (`indicators.parse`: the ranges, fast < slow); none twice."""
    asked = panel.options.indicators
    if not asked:
        return []
    if panel.type != "candlestick":
        return [([], f"{panel.type} panels draw no indicators", "invalid_indicator")]
    found: list[Problem] = []
    seen: set[str] = set()
    for k, item in enumerate(asked):
        given = item.given()
        wanted = indicators.PARAMETERS[item.name]
        takes = f"{item.name} takes {', '.join(wanted) or 'no parameters'}"
        wrong: list[Problem] = [
            ([k, field], takes, "invalid_indicator")
            for field in given
            if field != "name" and field not in wanted
        ]
        wrong += [([k, f], f"{item.name} needs {f}", "invalid_indicator") for f in wanted
                  if f not in given]  # fmt: skip
        found += wrong
        if wrong:
            continue
        name = indicators.name_of(given)
        try:
            indicators.parse(name)
        except indicators.IndicatorError as exc:
            found.append(([k], str(exc), "invalid_indicator"))
            continue
        if name in seen:
            found.append(([k], f"{name} is asked twice", "duplicate"))
        seen.add(name)
    return found


def _no_repeat(panel: Panel, multi: set[str]) -> str | None:
    """Why the panel's `repeat` is refused (None: it has none, or a valid one)."""
    repeat = panel.options.repeat
    if repeat is None:
        return None
    if panel.type in NOT_REPEATED:
        return f"{panel.type} panels do not repeat"
    return None if repeat in multi else f"{repeat!r} is not a declared multi variable"


def shared_ids(dashboard: Dashboard) -> list[uuid.UUID]:
    """`shared_with` without repeats, in order."""
    return list(dict.fromkeys(dashboard.shared_with))
