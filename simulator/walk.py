"""Prices of the simulated market, one ticker's trading days at a time: prices that hold a
range and sometimes break out of it, volume that follows the day and sometimes bursts, and a gap
at each UTC day's open. Pure apart from the walk's own random generator; time comes from the
ticks' own `ts`, so a run over simulated time gives the same structure as a live one.

The log price is a level plus a deviation pulled back towards it (an Ornstein-Uhlenbeck
process, half-life `HALF_LIFE_S`), so over the scanner's windows the price keeps a range. The
level moves three ways: slowly at random, by an opening gap when a tick falls on a new UTC day,
and by a breakout (a shift of 3-6 % spread over up to a minute and a half, on heavy volume),
which takes the price out of the range of the windows before. Volume is log-normal around
the ticker's mean, higher near the day's open and close, and in bursts several times that.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final

#: A walk never goes below one cent, so a price is always positive.
MIN_PRICE: Final = 0.01
DAY_MS: Final = 86_400_000
HALF_LIFE_S: Final = 600.0
_THETA: Final = math.log(2) / HALF_LIFE_S
RANGE: Final = 0.008
"""Standard deviation of the price around its level (log), about 0.8 %."""
_SIGMA: Final = RANGE * math.sqrt(2 * _THETA)
LEVEL_DRIFT: Final = 0.0001
"""The level's own random walk per √second."""
GAP: Final = 0.02
"""Standard deviation of the opening gap (log)."""
BREAKOUT_EVERY_S: Final = 300.0
BURST_EVERY_S: Final = 720.0
MAX_STEP_S: Final = 60.0
"""A longer pause (a restart) moves the walk as one minute would: no jump from catching up."""


@dataclass(slots=True)
class _Move:
    """A breakout under way: the level still to add, and until when."""

    remaining: float
    until_ms: int


class TradingWalk:
    """One ticker's prices and volumes; `tick(ts_ms)` gives the next (price, volume)."""

    def __init__(self, price: float, rng: random.Random, mean_volume: float = 200.0) -> None:
        if price <= 0:
            raise ValueError("a walk needs a positive price")
        self.rng = rng
        self.mean_volume = mean_volume
        self.level = math.log(price)
        self.deviation = 0.0
        self.last_ms: int | None = None
        self.breakout: _Move | None = None
        self.burst_until_ms = 0
        self.burst_factor = 1.0

    @property
    def price(self) -> float:
        return math.exp(self.level + self.deviation)

    @property
    def quote(self) -> float:
        """The price as published: rounded to the cent, never below `MIN_PRICE`."""
        return max(MIN_PRICE, round(self.price, 2))

    def resume(self, price: float) -> None:
        """Continue from `price` (an earlier run's last), not from the reference price."""
        if price > 0:
            self.level, self.deviation = math.log(price), 0.0

    def tick(self, ts_ms: int) -> tuple[float, int]:
        """Move to `ts_ms` (not before the last tick's); return the quote and the volume."""
        last = ts_ms if self.last_ms is None else self.last_ms
        dt = min(max(ts_ms - last, 0) / 1000, MAX_STEP_S)
        if self.last_ms is not None and ts_ms // DAY_MS > self.last_ms // DAY_MS:
            self._open(ts_ms)
        self.last_ms = ts_ms
        self._events(ts_ms, dt)
        self._move(ts_ms, dt)
        return self.quote, self._volume(ts_ms)

    def _open(self, ts_ms: int) -> None:
        """A new UTC day: the level gaps, and the open trades heavily for five minutes."""
        self.level += self.rng.gauss(0, GAP)
        self._burst(ts_ms, 300, self.rng.uniform(3, 6))

    def _events(self, ts_ms: int, dt: float) -> None:
        """Start a breakout or a volume burst, each a Poisson event."""
        if self.breakout is None and self.rng.random() < dt / BREAKOUT_EVERY_S:
            size = self.rng.uniform(0.03, 0.06) * self.rng.choice((-1, 1))
            self.breakout = _Move(size, ts_ms + round(self.rng.uniform(30, 90) * 1000))
            self._burst(ts_ms, 60, 2.0)
        elif ts_ms >= self.burst_until_ms and self.rng.random() < dt / BURST_EVERY_S:
            self._burst(ts_ms, self.rng.uniform(60, 120), self.rng.uniform(25, 40))

    def _burst(self, ts_ms: int, seconds: float, factor: float) -> None:
        self.burst_until_ms = ts_ms + round(seconds * 1000)
        self.burst_factor = factor

    def _move(self, ts_ms: int, dt: float) -> None:
        move = self.breakout
        if move is not None:
            share = (
                1.0 if ts_ms >= move.until_ms else min(1.0, dt / ((move.until_ms - ts_ms) / 1000))
            )
            self.level += move.remaining * share
            move.remaining -= move.remaining * share
            if share >= 1.0:
                self.breakout = None
        self.level += self.rng.gauss(0, LEVEL_DRIFT * math.sqrt(dt))
        pull = math.exp(-_THETA * dt)
        spread = _SIGMA * math.sqrt((1 - pull * pull) / (2 * _THETA))
        self.deviation = self.deviation * pull + self.rng.gauss(0, spread)
        self.level = max(self.level, math.log(MIN_PRICE))

    def _volume(self, ts_ms: int) -> int:
        """Log-normal around the mean × the day's U shape × a burst's factor."""
        hour = (ts_ms % DAY_MS) / 3_600_000
        shape = 0.6 + 0.8 * ((hour - 12) / 12) ** 2
        burst = self.burst_factor if ts_ms < self.burst_until_ms else 1.0
        mean = self.mean_volume * shape * burst
        return max(1, round(self.rng.lognormvariate(math.log(mean), 0.5)))
