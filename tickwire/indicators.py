"""Indicator formulas over a series of closes: simple and exponential moving averages,
Bollinger bands. Pure functions of plain lists (no Dash, no database), so the dashboard's chart
and, later, the API compute the same numbers.

A value that needs more closes than there are is None (no partial windows), except the EMA:
it is seeded with the first close, so it exists from the start, as in most charting tools.
The browser continues these series live (assets/markets.js) with the same `PERIOD` and
`WIDTH_SIGMA`, which the page sends it (`dashboard/browser.py`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

PERIOD: Final = 20
"""Closes in a window (SMA, Bollinger) and the EMA's span."""
WIDTH_SIGMA: Final = 2.0
"""Bollinger bands: this many standard deviations either side of the SMA."""


def sma(closes: Sequence[float], period: int = PERIOD) -> list[float | None]:
    """The mean of each close's last `period` closes (itself included)."""
    out: list[float | None] = []
    for i in range(len(closes)):
        window = closes[max(0, i - period + 1) : i + 1]
        out.append(sum(window) / period if len(window) == period else None)
    return out


def ema(closes: Sequence[float], period: int = PERIOD) -> list[float | None]:
    """The exponential moving average with k = 2 / (period + 1), seeded with the first close."""
    k = 2 / (period + 1)
    out: list[float | None] = []
    value: float | None = None
    for close in closes:
        value = close if value is None else value + k * (close - value)
        out.append(value)
    return out


def bollinger(
    closes: Sequence[float], period: int = PERIOD, sigmas: float = WIDTH_SIGMA
) -> tuple[list[float | None], list[float | None]]:
    """(upper, lower): the SMA ± `sigmas` population standard deviations of its window."""
    upper: list[float | None] = []
    lower: list[float | None] = []
    for i, mean in enumerate(sma(closes, period)):
        if mean is None:
            upper.append(None)
            lower.append(None)
            continue
        window = closes[i - period + 1 : i + 1]
        sd = math.sqrt(sum((c - mean) ** 2 for c in window) / period)
        upper.append(mean + sigmas * sd)
        lower.append(mean - sigmas * sd)
    return upper, lower
