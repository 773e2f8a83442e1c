"""The pure state machines behind alerts: a level with duration and hysteresis, a price move
over a sliding window. No I/O and no clock: times are epoch seconds passed in by the caller.

A machine answers each reading with `RAISE`, `CLEAR` or `None` (nothing changes). It only ever
raises when inactive and clears when active, so one open alert per machine is all there is.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Final

OPERATORS: Final = (">", ">=", "<", "<=")


class Change(enum.Enum):
    RAISE = "raise"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class Threshold:
    """`value <operator> threshold` is a violation; clearing waits for `hysteresis` below it
    (above it for `<`/`<=`); with hysteresis 0 it clears as soon as the violation ends."""

    operator: str
    threshold: float
    hysteresis: float = 0.0
    duration_s: float = 0.0

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise ValueError(f"unknown operator {self.operator!r}")

    @property
    def upward(self) -> bool:
        return self.operator in (">", ">=")

    def violated(self, value: float) -> bool:
        match self.operator:
            case ">":
                return value > self.threshold
            case ">=":
                return value >= self.threshold
            case "<":
                return value < self.threshold
            case _:
                return value <= self.threshold

    def cleared(self, value: float) -> bool:
        if self.hysteresis <= 0:
            return not self.violated(value)
        if self.upward:
            return value <= self.threshold - self.hysteresis
        return value >= self.threshold + self.hysteresis


class Level:
    """A threshold that must be violated for `duration_s` (by reading time) to raise."""

    __slots__ = ("active", "since", "spec")

    def __init__(self, spec: Threshold, active: bool = False) -> None:
        self.spec = spec
        self.active = active
        self.since: float | None = None
        """Time of the first reading of the current run of violations."""

    def update(self, ts: float, value: float) -> Change | None:
        if self.active:
            if self.spec.cleared(value):
                self.active, self.since = False, None
                return Change.CLEAR
            return None
        if not self.spec.violated(value):
            self.since = None
            return None
        if self.since is None:
            self.since = ts
        if ts - self.since >= self.spec.duration_s:
            self.active = True
            return Change.RAISE
        return None


class MoveWindow:
    """Prices of the last `window_s` seconds with their running min and max (monotonic deques:
    O(1) amortized per price, whatever the window holds)."""

    __slots__ = ("_maxima", "_minima", "window_s")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._minima: deque[tuple[float, float]] = deque()
        self._maxima: deque[tuple[float, float]] = deque()

    def add(self, ts: float, price: float) -> float:
        """Add a price (times must not decrease); return the move in percent to it from the
        window's low (positive) or high (negative), whichever is larger in size."""
        while self._minima and self._minima[-1][1] >= price:
            self._minima.pop()
        while self._maxima and self._maxima[-1][1] <= price:
            self._maxima.pop()
        self._minima.append((ts, price))
        self._maxima.append((ts, price))
        start = ts - self.window_s
        while self._minima[0][0] < start:
            self._minima.popleft()
        while self._maxima[0][0] < start:
            self._maxima.popleft()
        low, high = self._minima[0][1], self._maxima[0][1]
        up = (price - low) / low * 100 if low > 0 else 0.0
        down = (high - price) / high * 100 if high > 0 else 0.0
        return up if up >= down else -down


class PriceMove:
    """|move| ≥ `threshold` percent within the window raises; it clears once the move is below
    `threshold − hysteresis` (percentage points)."""

    __slots__ = ("level", "move", "window")

    def __init__(
        self, window_s: float, threshold: float, hysteresis: float = 0.0, duration_s: float = 0.0
    ) -> None:
        self.window = MoveWindow(window_s)
        self.level = Level(Threshold(">=", threshold, hysteresis, duration_s))
        self.move = 0.0
        """The signed move of the last price, in percent."""

    @property
    def active(self) -> bool:
        return self.level.active

    @active.setter
    def active(self, value: bool) -> None:
        self.level.active = value

    def warm(self, ts: float, price: float) -> None:
        """Fill the window with history without evaluating it."""
        self.move = self.window.add(ts, price)

    def update(self, ts: float, price: float) -> Change | None:
        self.move = self.window.add(ts, price)
        return self.level.update(ts, abs(self.move))
