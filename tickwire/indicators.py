"""Indicators as data (the API's `GET /api/stocks/{ticker}/indicators`, which the markets
chart's overlays and RSI/MACD panels draw): TA-Lib's own functions (`parse` a name, `compute`
it over candles), so the numbers are TA-Lib's by construction and there is no second
implementation anywhere (the dashboard asks the API, in Python and in the browser).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import talib
from talib._ta_lib import MA_Type

# --- Indicators as data (`GET /api/stocks/{ticker}/indicators`): TA-Lib's numbers. ---------

MAX_PERIOD: Final = 500
"""Largest N accepted in a name (`sma:N` …): it bounds the candles read to warm up."""
_DECAY_CANDLES_PER_PERIOD: Final = 28
"""Candles per unit of N after which a recursive average (EMA: α = 2/(N+1); Wilder's: 1/N)
has forgotten its seed to below 1e-12: (1 − 1/N)^(28·N) < e^−27."""
PARAMETERS: Final[dict[str, tuple[str, ...]]] = {
    "sma": ("period",),
    "ema": ("period",),
    "rsi": ("period",),
    "atr": ("period",),
    "macd": ("fast", "slow", "signal"),
    "bbands": ("period", "stddev"),
    "obv": (),
    "vwap": (),
}
"""Each indicator's parameters, in the order of its name (`macd:F:S:G`): also the fields of a
candlestick panel's `options.indicators` items (`{"name": "macd", "fast": 12, …}`)."""
_ARITY: Final = {kind: len(names) for kind, names in PARAMETERS.items()}
_PARTS: Final = {
    "macd": ("macd", "macd_signal", "macd_hist"),
    "bbands": ("bb_upper", "bb_middle", "bb_lower"),
}
_RECURSIVE: Final = frozenset({"ema", "rsi", "atr", "macd"})


class IndicatorError(ValueError):
    """A name that is not one of the indicators, or with bad parameters."""


@dataclass(frozen=True, slots=True)
class Spec:
    """One asked indicator: its name as asked (`macd:12:26:9`), kind and parameters."""

    name: str
    kind: str
    args: tuple[float, ...]

    @property
    def warmup(self) -> int:
        """Candles to read before the first returned one so values equal TA-Lib's over the
        whole history: the lookback, and for recursive averages their memory too."""
        if self.kind in ("obv", "vwap"):
            return 0
        periods = [int(a) for a in self.args[: 2 if self.kind == "bbands" else 3]]
        span = sum(periods) if self.kind == "macd" else max(periods)
        extra = _DECAY_CANDLES_PER_PERIOD * span if self.kind in _RECURSIVE else 0
        return span + extra + 1

    def keys(self) -> list[str]:
        """Series keys in the answer: the name, or `name.part` per part."""
        parts = _PARTS.get(self.kind)
        return [self.name] if parts is None else [f"{self.name}.{part}" for part in parts]


def parse(name: str) -> Spec:
    """`sma:20` → Spec; `IndicatorError` for anything else."""
    kind, *raw = name.split(":")
    if kind not in _ARITY or len(raw) != _ARITY[kind]:
        raise IndicatorError(f"unknown indicator {name[:40]!r}")
    try:
        args = tuple(float(a) if kind == "bbands" and i == 1 else int(a) for i, a in enumerate(raw))
    except ValueError:
        raise IndicatorError(f"bad parameters in {name[:40]!r}") from None
    periods = args[:1] if kind == "bbands" else args
    low = 1 if kind in ("ema", "rsi", "atr", "sma") else 2
    if any(not low <= p <= MAX_PERIOD for p in periods) or (
        kind == "bbands" and not (0 < args[1] <= 10 and math.isfinite(args[1]))
    ):
        raise IndicatorError(f"{name[:40]!r}: periods from {low} to {MAX_PERIOD}, K in (0, 10]")
    if kind == "macd" and args[0] >= args[1]:
        raise IndicatorError(f"{name[:40]!r}: the fast period must be shorter than the slow")
    return Spec(name, kind, args)


def name_of(option: Mapping[str, Any]) -> str:
    """A panel's indicator (`{"name": "bbands", "period": 20, "stddev": 2}`) as the name the API
    is asked for (`bbands:20:2`); `parse` of it checks it as the API does. KeyError for an
    unknown name or a missing parameter."""
    kind = option["name"]
    return ":".join([kind, *(_text(option[p]) for p in PARAMETERS[kind])])


def _text(value: Any) -> str:
    """A parameter as the name holds it: `20`, `2` for 2.0, `2.5` (repr: exact, so the API's
    `float` of it is the same number)."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


@dataclass(frozen=True, slots=True)
class Bars:
    """Candles as arrays (TA-Lib's input): times and OHLCV, volume 0 where there was none."""

    time: list[datetime]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]

    @classmethod
    def of(cls, candles: Sequence[Mapping[str, Any]]) -> Bars:
        def column(key: str) -> npt.NDArray[np.float64]:
            return np.array([c[key] or 0.0 for c in candles], dtype=np.float64)

        return cls(
            [c["time"] for c in candles],
            column("high"),
            column("low"),
            column("close"),
            column("volume"),
        )


def compute(spec: Spec, bars: Bars, first: int) -> dict[str, list[float | None]]:
    """The series of `spec` for bars[first:], computed over all `bars` (the warm-up before
    `first`); OBV starts at bars[first], VWAP restarts each UTC day."""
    if spec.kind == "obv":
        return {spec.name: _listed(talib.OBV(bars.close[first:], bars.volume[first:]))}
    if spec.kind == "vwap":
        return {spec.name: _listed(_vwap(bars)[first:])}
    return dict(zip(spec.keys(), (_listed(s[first:]) for s in _talib(spec, bars)), strict=True))


def _talib(spec: Spec, bars: Bars) -> list[npt.NDArray[np.float64]]:
    a = spec.args
    match spec.kind:
        case "sma":
            return [talib.SMA(bars.close, timeperiod=int(a[0]))]
        case "ema":
            return [talib.EMA(bars.close, timeperiod=int(a[0]))]
        case "rsi":
            return [talib.RSI(bars.close, timeperiod=int(a[0]))]
        case "atr":
            return [talib.ATR(bars.high, bars.low, bars.close, timeperiod=int(a[0]))]
        case "macd":
            fast, slow, signal = (int(x) for x in a)
            return list(
                talib.MACD(bars.close, fastperiod=fast, slowperiod=slow, signalperiod=signal)
            )
        case _:  # bbands
            n, k = int(a[0]), a[1]
            return list(
                talib.BBANDS(bars.close, timeperiod=n, nbdevup=k, nbdevdn=k, matype=MA_Type.SMA)
            )


def _vwap(bars: Bars) -> npt.NDArray[np.float64]:
    """Σ typical·volume / Σ volume since the candle's UTC day began ((H+L+C)/3; NaN while the
    day has no volume)."""
    typical = (bars.high + bars.low + bars.close) / 3
    out = np.full(len(bars.time), np.nan)
    day, value, volume = None, 0.0, 0.0
    for i, at in enumerate(bars.time):
        if at.date() != day:
            day, value, volume = at.date(), 0.0, 0.0
        value += typical[i] * bars.volume[i]
        volume += bars.volume[i]
        out[i] = value / volume if volume else np.nan
    return out


def _listed(values: npt.NDArray[np.float64]) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in values.tolist()]
