"""Which alerts exist for a configuration: one `Spec` per alert key, indexed by what feeds it.

Built-ins for every device (no rule, no owner): `OFFLINE`, `ONLINE`, `HIGH_TEMP` (temperature
> 30 °C, hysteresis 1 °C). A device covered by an enabled rule of kind HIGH_TEMP or OFFLINE
(the rule names the device, or names none and has the device's owner) uses the rule(s) instead
of that built-in. A device rule naming no device (a fleet rule) applies to every device its
owner may read (an admin's: all), of its `device_kind` when it has one: one alert per (rule,
device); an admin's fleet rule does not replace the built-ins of other users' devices.
Watchlist levels are PRICE_ABOVE / PRICE_BELOW of their user, hysteresis
0.2 % of the level.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Final

from ingest.alerts.conditions import Threshold
from ingest.alerts.config import AlertKey, Config, Device, Rule, WatchLevel
from tickwire.alert_kinds import DEVICE_KINDS, AlertKind

BUILTIN_HIGH_TEMP: Final = Threshold(">", 30.0, hysteresis=1.0)
WATCH_HYSTERESIS: Final = 0.002
"""Hysteresis of price levels without their own: a fraction of the level."""
_LEVEL_OPERATORS: Final[dict[str, str]] = {AlertKind.PRICE_ABOVE: ">=", AlertKind.PRICE_BELOW: "<="}


@dataclass(frozen=True, slots=True)
class Spec:
    """One alert the engine watches for. `level` is the metric or price threshold (PRICE_MOVE:
    the move in percent); `duration_s` of an OFFLINE rule delays its alert past the timeout."""

    key: AlertKey
    severity: str
    label: str
    metric: str | None = None
    level: Threshold | None = None
    window_s: float | None = None
    duration_s: float = 0.0


@dataclass(slots=True)
class Catalog:
    specs: dict[AlertKey, Spec] = field(default_factory=dict)
    metrics: dict[tuple[str, str], list[Spec]] = field(default_factory=lambda: defaultdict(list))
    """(device, metric) → HIGH_TEMP and THRESHOLD specs."""
    metric_names: dict[str, int] = field(default_factory=dict)
    """metric → how many specs of `metrics` watch it (kept with them: a batch's rows of other
    metrics are skipped without a pass over a big fleet's `metrics`)."""
    prices: dict[str, list[Spec]] = field(default_factory=lambda: defaultdict(list))
    """ticker → PRICE_ABOVE, PRICE_BELOW and PRICE_MOVE specs."""
    offline: dict[str, list[Spec]] = field(default_factory=lambda: defaultdict(list))
    online: dict[str, Spec] = field(default_factory=dict)
    devices: dict[str, list[Spec]] = field(default_factory=lambda: defaultdict(list))
    """device → its specs (built-ins and rules), to replace them one device at a time."""

    def add(self, spec: Spec) -> None:
        self.specs[spec.key] = spec
        subject = spec.key.subject
        if spec.key.kind in DEVICE_KINDS:
            self.devices[subject].append(spec)
        if spec.key.kind == AlertKind.OFFLINE:
            self.offline[subject].append(spec)
        elif spec.key.kind == AlertKind.ONLINE:
            self.online[subject] = spec
        elif spec.metric is not None:
            self.metrics[(subject, spec.metric)].append(spec)
            self.metric_names[spec.metric] = self.metric_names.get(spec.metric, 0) + 1
        else:
            self.prices[subject].append(spec)

    def remove_device(self, device_id: str) -> list[Spec]:
        """Drop every spec of the device; returns them."""
        removed = self.devices.pop(device_id, [])
        for spec in removed:
            del self.specs[spec.key]
            if spec.metric is None:
                continue
            watching = self.metrics.pop((device_id, spec.metric), None)
            if watching:
                left = self.metric_names[spec.metric] - len(watching)
                if left:
                    self.metric_names[spec.metric] = left
                else:
                    del self.metric_names[spec.metric]
        self.offline.pop(device_id, None)
        self.online.pop(device_id, None)
        return removed


def build(config: Config) -> Catalog:
    catalog = Catalog()
    targets = _rule_targets(config)
    covered = {
        (rule.kind, d)
        for rule in config.rules
        if rule.kind in DEVICE_KINDS
        for d in targets.get(rule.id, ())
        if rule.device_id is not None or config.devices[d].owner_id == rule.owner_id
    }
    for device_id in config.devices:
        for spec in _device_builtins(device_id, covered):
            catalog.add(spec)
    for rule in config.rules:
        for subject in targets.get(rule.id, ()):
            catalog.add(_rule_spec(rule, subject))
    for level in config.watch:
        for spec in _watch_specs(level):
            catalog.add(spec)
    return catalog


def device_specs(config: Config, device: Device) -> list[Spec]:
    """The specs of one device, as `build` makes them (built-ins first, then rules in order):
    a device registered, changed or deleted is put in or taken out alone (`config.devices`
    already holds it, or no longer does)."""
    rules = [rule for rule in config.rules if _applies(config, rule, device)]
    covered = {
        (rule.kind, device.device_id)
        for rule in rules
        if rule.device_id is not None or device.owner_id == rule.owner_id
    }
    specs = _device_builtins(device.device_id, covered)
    return specs + [_rule_spec(rule, device.device_id) for rule in rules]


def _applies(config: Config, rule: Rule, device: Device) -> bool:
    """Whether a device rule covers the device: `_rule_targets` for one device."""
    if rule.kind not in DEVICE_KINDS:
        return False
    if rule.device_id is not None:
        return rule.device_id == device.device_id
    if rule.owner_id is None:
        return False
    if rule.owner_id not in config.admins and device.owner_id != rule.owner_id:
        return False
    return rule.device_kind is None or device.kind == rule.device_kind


def _rule_targets(config: Config) -> dict[int, list[str]]:
    """rule id → the subjects (devices or ticker) the rule applies to."""
    by_owner: dict[uuid.UUID, list[str]] = defaultdict(list)
    for device in config.devices.values():
        if device.owner_id is not None:
            by_owner[device.owner_id].append(device.device_id)
    targets: dict[int, list[str]] = {}
    for rule in config.rules:
        if rule.kind in DEVICE_KINDS:
            if rule.device_id is not None:
                subjects = [rule.device_id] if rule.device_id in config.devices else []
            elif rule.owner_id is None:
                subjects = []
            else:
                fleet = config.devices if rule.owner_id in config.admins else None
                readable = list(fleet) if fleet is not None else by_owner.get(rule.owner_id, [])
                kind = rule.device_kind
                subjects = [d for d in readable if kind is None or config.devices[d].kind == kind]
        else:
            subjects = [rule.ticker] if rule.ticker is not None else []
        targets[rule.id] = subjects
    return targets


def _device_builtins(device_id: str, covered: set[tuple[str, str]]) -> list[Spec]:
    specs = [Spec(AlertKey(AlertKind.ONLINE, None, device_id, None), "info", "built-in")]
    if (AlertKind.OFFLINE, device_id) not in covered:
        specs.append(
            Spec(AlertKey(AlertKind.OFFLINE, None, device_id, None), "warning", "built-in")
        )
    if (AlertKind.HIGH_TEMP, device_id) not in covered:
        key = AlertKey(AlertKind.HIGH_TEMP, None, device_id, None)
        specs.append(Spec(key, "warning", "built-in", "temperature", BUILTIN_HIGH_TEMP))
    return specs


def _rule_spec(rule: Rule, subject: str) -> Spec:
    """The alert a rule raises on one subject, its condition per kind."""
    key = AlertKey(rule.kind, rule.id, subject, rule.owner_id)
    spec = Spec(key, rule.severity, f"rule {rule.name!r}")
    if rule.kind == AlertKind.OFFLINE:
        return replace(spec, duration_s=rule.duration_s)
    threshold = rule.threshold if rule.threshold is not None else 0.0
    if rule.kind in _LEVEL_OPERATORS:
        hysteresis = rule.hysteresis or abs(threshold) * WATCH_HYSTERESIS
        level = Threshold(_LEVEL_OPERATORS[rule.kind], threshold, hysteresis, rule.duration_s)
        return replace(spec, level=level)
    if rule.kind == AlertKind.PRICE_MOVE:
        level = Threshold(">=", threshold, rule.hysteresis, rule.duration_s)
        return replace(spec, level=level, window_s=rule.window_s)
    level = Threshold(rule.operator or ">", threshold, rule.hysteresis, rule.duration_s)
    return replace(spec, metric=rule.metric or "temperature", level=level)


def _watch_specs(level: WatchLevel) -> list[Spec]:
    specs = []
    for kind, value in ((AlertKind.PRICE_ABOVE, level.above), (AlertKind.PRICE_BELOW, level.below)):
        if value is None:
            continue
        threshold = Threshold(_LEVEL_OPERATORS[kind], value, abs(value) * WATCH_HYSTERESIS)
        key = AlertKey(kind, None, level.ticker, level.user_id)
        specs.append(Spec(key, "warning", "watchlist", level=threshold))
    return specs
