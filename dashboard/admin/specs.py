"""What the admin page manages — devices, stocks, alert rules — described as data: each entity's
API path, key, table columns and form fields, and how form values become API bodies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from tickwire import alert_kinds

FieldType = Literal["text", "number", "list", "bool", "select"]
ON: Final = "on"


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: FieldType = "text"
    options: tuple[str, ...] = ()
    create_only: bool = False
    hint: str = ""


@dataclass(frozen=True)
class Entity:
    name: str
    title: str
    singular: str
    path: str
    key: str
    columns: tuple[tuple[str, str], ...]
    fields: tuple[Field, ...]
    #: fields a PATCH may set to null (clears them); other empty fields are left unchanged
    nullable: frozenset[str] = field(default_factory=frozenset)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


DEVICES: Final = Entity(
    name="devices",
    title="Devices",
    singular="device",
    path="/api/devices",
    key="device_id",
    columns=(
        ("device_id", "Id"),
        ("name", "Name"),
        ("kind", "Kind"),
        ("status", "Status"),
        ("tickers", "Tickers"),
        ("offline_timeout_s", "Offline after (s)"),
        ("owner_id", "Owner"),
    ),
    fields=(
        Field("device_id", "Id", create_only=True, hint="e.g. sensor-42"),
        Field("name", "Name", hint="default: the id"),
        Field("kind", "Kind", hint="sensor, feed, gateway…"),
        Field("tickers", "Tickers", "list", hint="AAPL, MSFT"),
        Field("offline_timeout_s", "Offline after (s)", "number", hint="10"),
        Field("owner_id", "Owner id", hint="user id (Users page); default: you"),
    ),
)

STOCKS: Final = Entity(
    name="stocks",
    title="Stocks",
    singular="stock",
    path="/api/stocks",
    key="ticker",
    columns=(
        ("ticker", "Ticker"),
        ("name", "Name"),
        ("exchange", "Exchange"),
        ("currency", "Currency"),
    ),
    fields=(
        Field("ticker", "Ticker", create_only=True, hint="e.g. AAPL"),
        Field("name", "Name"),
        Field("exchange", "Exchange"),
        Field("currency", "Currency", hint="USD"),
    ),
    nullable=frozenset({"name", "exchange", "currency"}),
)

RULE_KINDS: Final = alert_kinds.RULE_NAMES
RULES: Final = Entity(
    name="rules",
    title="Alert rules",
    singular="rule",
    path="/api/alert-rules",
    key="id",
    columns=(
        ("id", "Id"),
        ("name", "Name"),
        ("kind", "Kind"),
        ("subject", "Subject"),
        ("condition", "Condition"),
        ("duration_s", "For (s)"),
        ("severity", "Severity"),
        ("enabled", "Enabled"),
    ),
    fields=(
        Field("name", "Name"),
        Field("kind", "Kind", "select", RULE_KINDS),
        Field("device_id", "Device", hint="device rules; empty: all"),
        Field("device_kind", "Device kind", hint="all of this kind (sensor…)"),
        Field("ticker", "Ticker", hint="price rules"),
        Field("metric", "Metric", hint="temperature"),
        Field("operator", "Operator", "select", (">", ">=", "<", "<=")),
        Field("threshold", "Threshold", "number"),
        Field("window_s", "Window (s)", "number", hint="PRICE_MOVE"),
        Field("duration_s", "For (s)", "number", hint="0"),
        Field("hysteresis", "Hysteresis", "number", hint="0"),
        Field("severity", "Severity", "select", ("info", "warning", "critical")),
        Field("enabled", "Enabled", "bool"),
    ),
    nullable=frozenset(
        {"device_id", "device_kind", "ticker", "metric", "operator", "threshold", "window_s"}
    ),
)

ENTITIES: Final = {entity.name: entity for entity in (DEVICES, STOCKS, RULES)}


def parse(spec: Field, value: Any) -> Any:
    """A form value as the API wants it; None for an empty field."""
    if spec.type == "bool":
        return ON in (value or [])
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if spec.type == "number":
        return float(value)
    if spec.type == "list":
        return [part.strip() for part in str(value).split(",") if part.strip()]
    return str(value).strip()


def body(entity: Entity, values: dict[str, Any], creating: bool) -> dict[str, Any]:
    """The POST (creating) or PATCH body from the form's values, by field name."""
    result: dict[str, Any] = {}
    for spec in entity.fields:
        if spec.create_only and not creating:
            continue
        value = parse(spec, values.get(spec.name))
        if value is not None or (not creating and spec.name in entity.nullable):
            result[spec.name] = value
    return result


def form_value(spec: Field, value: Any) -> Any:
    """A stored value as the form shows it."""
    if spec.type == "bool":
        return [ON] if value else []
    if spec.type == "list":
        return ", ".join(value or [])
    return value


def blank(spec: Field) -> Any:
    """A new item's form value."""
    if spec.type == "bool":
        return [ON] if spec.name == "enabled" else []
    return None


def cell(entity: Entity, item: dict[str, Any], column: str) -> str:
    """One table cell's text."""
    if entity is RULES and column == "subject":
        fleet = "any of the owner's" + (
            f" {item['device_kind']}s" if item.get("device_kind") else ""
        )
        return str(item.get("device_id") or item.get("ticker") or fleet)
    if entity is RULES and column == "condition":
        parts = [item.get("metric"), item.get("operator"), item.get("threshold")]
        shown = " ".join(str(p) for p in parts if p is not None)
        return shown + (f" in {item['window_s']:g} s" if item.get("window_s") else "")
    value = item.get(column)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if column == "owner_id":
        return str(item.get("owner_email") or (str(value)[:8] if value else "—"))
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)
