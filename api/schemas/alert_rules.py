"""Bodies of /api/alert-rules, and what each kind of rule needs (`check_rule`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal

from pydantic import Field

from api.error_codes import ErrorCode
from api.errors import Invalid
from api.schemas.common import DeviceId, Input, Kind, Metric, Output, Patch, Text, Ticker
from tickwire import alert_kinds

if TYPE_CHECKING:  # plain strings, as `api.schemas.alerts.AlertKind`
    RuleKind = str
else:
    RuleKind = Literal[alert_kinds.RULE_NAMES]
Operator = Literal[">", ">=", "<", "<="]
Severity = Literal["info", "warning", "critical"]
_YEAR_S: Final = 365 * 86400.0
Seconds = Annotated[float, Field(ge=0, le=_YEAR_S)]
Window = Annotated[float, Field(gt=0, le=_YEAR_S, description="seconds (PRICE_MOVE)")]
Hysteresis = Annotated[float, Field(ge=0, le=1e12)]

#: Fields whose use depends on the kind: which apply, which are required, defaults.
SUBJECT_FIELDS: Final = (
    "device_id",
    "device_kind",
    "ticker",
    "metric",
    "operator",
    "threshold",
    "window_s",
)
_APPLIES: Final[dict[str, frozenset[str]]] = {
    "HIGH_TEMP": frozenset({"device_id", "device_kind", "metric", "operator", "threshold"}),
    "OFFLINE": frozenset({"device_id", "device_kind"}),
    "PRICE_MOVE": frozenset({"ticker", "threshold", "window_s"}),
    "PRICE_ABOVE": frozenset({"ticker", "threshold"}),
    "PRICE_BELOW": frozenset({"ticker", "threshold"}),
    "THRESHOLD": frozenset({"device_id", "device_kind", "metric", "operator", "threshold"}),
}
_REQUIRED: Final[dict[str, frozenset[str]]] = {
    "HIGH_TEMP": frozenset(),
    "OFFLINE": frozenset(),
    "PRICE_MOVE": frozenset({"ticker", "threshold", "window_s"}),
    "PRICE_ABOVE": frozenset({"ticker", "threshold"}),
    "PRICE_BELOW": frozenset({"ticker", "threshold"}),
    "THRESHOLD": frozenset({"metric", "operator", "threshold"}),
}
_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "HIGH_TEMP": {"metric": "temperature", "operator": ">", "threshold": 30.0},
}

KIND_DOC: Final = """Per kind (a field that does not apply must be absent or null):
- `HIGH_TEMP`: optional `device_id` (none: every device of the owner); `metric` (default
  `temperature`), `operator` `>` or `>=` (default `>`), `threshold` (default 30).
- `OFFLINE`: optional `device_id`; the timeout is the device's `offline_timeout_s`.
- `PRICE_MOVE`: `ticker`, `threshold` (percent, > 0), `window_s`.
- `PRICE_ABOVE` / `PRICE_BELOW`: `ticker`, `threshold` (a price).
- `THRESHOLD`: optional `device_id`, `metric`, `operator`, `threshold`.

A device rule (HIGH_TEMP, OFFLINE, THRESHOLD) without `device_id` covers the fleet: every
device its owner may read (an admin's: every device), devices added later included, only
those of kind `device_kind` when given (`device_kind` with a `device_id` is a mismatch); one
alert per (rule, device).

Every kind takes `duration_s` (how long the condition must hold), `hysteresis`,
`severity` and `enabled`. A mismatch is 422 `invalid_alert_rule`, with the offending
fields in `details`; a device or ticker the caller cannot read is 422 `unknown_device` /
`unknown_ticker`."""


class AlertRuleCreate(Input):
    name: Text
    kind: RuleKind
    device_id: DeviceId | None = None
    device_kind: Kind | None = None
    ticker: Ticker | None = None
    metric: Metric | None = None
    operator: Operator | None = None
    threshold: float | None = None
    duration_s: Seconds = 0.0
    window_s: Window | None = None
    hysteresis: Hysteresis = 0.0
    severity: Severity = "warning"
    enabled: bool = True


class AlertRuleUpdate(Patch):
    """Only what is sent changes; the result is checked as a whole, as on creation."""

    nullable: ClassVar[frozenset[str]] = frozenset(SUBJECT_FIELDS)
    name: Text | None = None
    kind: RuleKind | None = None
    device_id: DeviceId | None = None
    device_kind: Kind | None = None
    ticker: Ticker | None = None
    metric: Metric | None = None
    operator: Operator | None = None
    threshold: float | None = None
    duration_s: Seconds | None = None
    window_s: Window | None = None
    hysteresis: Hysteresis | None = None
    severity: Severity | None = None
    enabled: bool | None = None


class AlertRuleRead(Output):
    id: int
    owner_id: uuid.UUID | None
    name: str
    kind: str
    device_id: str | None
    device_kind: str | None
    ticker: str | None
    metric: str | None
    operator: str | None
    threshold: float | None
    duration_s: float
    window_s: float | None
    hysteresis: float
    severity: str
    enabled: bool
    created_at: datetime
    updated_at: datetime


#: Every writable field of a rule, in AlertRuleCreate's order.
RULE_FIELDS: Final = tuple(AlertRuleCreate.model_fields)


def check_rule(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with the kind's defaults filled in; Invalid `invalid_alert_rule` if they misfit."""
    kind = fields["kind"]
    rule = dict(fields)
    for name, default in _DEFAULTS.get(kind, {}).items():
        if rule[name] is None:
            rule[name] = default
    problems: dict[str, str] = {}
    for name in SUBJECT_FIELDS:
        if rule[name] is not None and name not in _APPLIES[kind]:
            problems[name] = f"does not apply to {kind}"
        elif rule[name] is None and name in _REQUIRED[kind]:
            problems[name] = f"is required for {kind}"
    if rule["device_id"] is not None and rule["device_kind"] is not None:
        problems["device_kind"] = "narrows a fleet rule: give it without device_id"
    if kind == "HIGH_TEMP" and rule["operator"] not in (">", ">="):
        problems["operator"] = "HIGH_TEMP fires above the threshold: > or >="
    if kind == "PRICE_MOVE" and rule["threshold"] is not None and rule["threshold"] <= 0:
        problems["threshold"] = "a PRICE_MOVE threshold is a percentage > 0"
    if problems:
        listed = "; ".join(f"{name} {why}" for name, why in problems.items())
        raise Invalid(
            f"invalid {kind} rule: {listed}", code=ErrorCode.INVALID_ALERT_RULE, details=problems
        )
    return rule
