"""From committed data to alert transitions: a state machine per alert key, fed only fresh
readings. No I/O: the engine writes what this returns.

Fresh: a reading's time is at least the batch's receive time − `max_lag_s`, and newer than the
last one evaluated for its series (device and metric, or ticker). Replayed (store-and-forward)
or late data therefore never raises nor clears an alert.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Iterable
from dataclasses import dataclass
from datetime import datetime

from ingest.alerts.catalog import Catalog, Spec
from ingest.alerts.conditions import Change, Level, PriceMove
from ingest.alerts.config import AlertKey
from tickwire.contract import PriceRow, TelemetryRow


@dataclass(frozen=True, slots=True)
class Raise:
    spec: Spec
    value: float | None
    message: str


@dataclass(frozen=True, slots=True)
class Clear:
    key: AlertKey
    detail: str


Transition = Raise | Clear
_NEVER = float("-inf")
Machine = Level | PriceMove


class Evaluator:
    def __init__(self, max_lag_s: float) -> None:
        self.max_lag_s = max_lag_s
        self.catalog = Catalog()
        self.machines: dict[AlertKey, Machine] = {}
        self._specs: dict[AlertKey, Spec] = {}
        self._last: dict[tuple[str, str], float] = {}
        """(device, metric) or ("", ticker) → time of the newest reading evaluated."""
        self.touched: set[AlertKey] = set()
        """Keys of machines with a duration whose run began or ended since the caller last
        emptied this (their runs to store)."""
        self._warmed: set[tuple[str, str]] = set()
        """Series whose newest time is a price `warm` read from history: a batch committed
        while its window was being warmed holds that very price, to be evaluated once still."""

    def rebuild(self, catalog: Catalog, open_keys: Iterable[AlertKey]) -> list[Spec]:
        """Take a new catalog, keeping the state of machines whose spec did not change; a new
        machine starts active when its alert is open. Returns the PRICE_MOVE specs whose
        windows are new (to warm)."""
        open_set = set(open_keys)
        machines: dict[AlertKey, Machine] = {}
        fresh: list[Spec] = []
        for key, spec in catalog.specs.items():
            if spec.level is None:
                continue
            kept = self.machines.get(key)
            if kept is not None and self._specs.get(key) == spec:
                machines[key] = kept
                continue
            machines[key] = _machine(spec, active=key in open_set)
            if spec.window_s is not None:
                fresh.append(spec)
        self.catalog, self.machines, self._specs = catalog, machines, dict(catalog.specs)
        return fresh

    def replace(
        self, removed: Iterable[Spec], added: Iterable[Spec], open_keys: Container[AlertKey]
    ) -> None:
        """`rebuild` for part of the catalog (the caller took `removed` out of it and put `added`
        in): a machine whose spec is back unchanged keeps its state. Device specs only (no
        PRICE_MOVE windows to warm)."""
        before: dict[AlertKey, tuple[Spec, Machine]] = {}
        for spec in removed:
            machine = self.machines.pop(spec.key, None)
            old = self._specs.pop(spec.key, None)
            if machine is not None and old is not None:
                before[spec.key] = (old, machine)
        for spec in added:
            assert spec.window_s is None
            self._specs[spec.key] = spec
            if spec.level is None:
                continue
            old_spec, machine = before.get(spec.key, (None, None))
            if machine is None or old_spec != spec:
                machine = _machine(spec, active=spec.key in open_keys)
            self.machines[spec.key] = machine

    def warm(self, spec: Spec, history: Iterable[tuple[float, float]]) -> None:
        """Fill a PRICE_MOVE window with (time, price) history, oldest first."""
        machine = self.machines.get(spec.key)
        if not isinstance(machine, PriceMove):
            return
        newest = None
        for ts, price in history:
            machine.warm(ts, price)
            newest = ts
        series = ("", spec.key.subject)
        if newest is not None and newest > self._last.get(series, float("-inf")):
            self._last[series] = newest
            self._warmed.add(series)

    def telemetry(self, rows: Iterable[TelemetryRow], received_at: datetime) -> list[Transition]:
        wanted = self.catalog.metrics
        if not wanted:
            return []
        names = self.catalog.metric_names  # most rows are of no rule's metric
        series: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
        for time, device_id, metric, value in rows:
            if metric in names and (device_id, metric) in wanted:
                series[(device_id, metric)].append((time.timestamp(), value))
        out: list[Transition] = []
        cutoff = received_at.timestamp() - self.max_lag_s
        for (device_id, metric), points in series.items():
            for ts, value in self._fresh((device_id, metric), points, cutoff):
                for spec in wanted[(device_id, metric)]:
                    out += self._feed(spec, ts, value, f"{metric} {value:g}")
        return out

    def prices(self, rows: Iterable[PriceRow], received_at: datetime) -> list[Transition]:
        wanted = self.catalog.prices
        series: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for time, ticker, price, _volume, _source in rows:
            if ticker in wanted:
                series[ticker].append((time.timestamp(), price))
        out: list[Transition] = []
        cutoff = received_at.timestamp() - self.max_lag_s
        for ticker, points in series.items():
            for ts, price in self._fresh(("", ticker), points, cutoff):
                for spec in wanted[ticker]:
                    out += self._feed(spec, ts, price, f"{ticker} {price:g}")
        return out

    def _fresh(
        self, series: tuple[str, str], points: list[tuple[float, float]], cutoff: float
    ) -> list[tuple[float, float]]:
        """The points at or after `cutoff` to evaluate, oldest first; remembers the newest."""
        last = self._last.get(series, _NEVER)
        warmed = self._warmed and series in self._warmed
        if len(points) == 1:  # a big fleet: most series have one point a batch
            ts = points[0][0]
            if ts < cutoff or not (ts > last or (warmed and ts == last)):
                return []
            kept = points
        else:
            kept = sorted(
                p for p in points if p[0] >= cutoff and (p[0] > last or (warmed and p[0] == last))
            )
            if not kept:
                return kept
        self._last[series] = kept[-1][0]
        if warmed:
            self._warmed.discard(series)
        return kept

    def _feed(self, spec: Spec, ts: float, value: float, what: str) -> list[Transition]:
        machine = self.machines[spec.key]
        level = machine.level if isinstance(machine, PriceMove) else machine
        since = level.since
        change = machine.update(ts, value)
        if level.since != since and level.spec.duration_s > 0:
            self.touched.add(spec.key)
        if change is None:
            return []
        if change is Change.CLEAR:
            return [Clear(spec.key, _cleared(spec, machine, what))]
        return [Raise(spec, *_raised(spec, machine, value, what))]


def _machine(spec: Spec, active: bool) -> Machine:
    assert spec.level is not None
    if spec.window_s is None:
        return Level(spec.level, active)
    level = spec.level
    machine = PriceMove(spec.window_s, level.threshold, level.hysteresis, level.duration_s)
    machine.active = active
    return machine


def _raised(spec: Spec, machine: Machine, value: float, what: str) -> tuple[float, str]:
    level = spec.level
    assert level is not None
    if isinstance(machine, PriceMove):
        move = f"moved {machine.move:+.2f} % within {spec.window_s:g} s"
        return machine.move, f"{spec.key.subject} {move} (≥ {level.threshold:g} %, {spec.label})"
    return value, f"{what} {level.operator} {level.threshold:g} ({spec.label})"


def _cleared(spec: Spec, machine: Machine, what: str) -> str:
    if isinstance(machine, PriceMove):
        return f"{spec.key.subject} move back to {machine.move:+.2f} %"
    return f"back to {what}"
