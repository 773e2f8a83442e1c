"""Reducing raw rows to a few points that keep their shape: MinMaxLTTB (tsdownsample).

MinMaxLTTB pre-selects the minimum and maximum of many small bins, then runs LTTB over them,
so spikes survive where plain decimation or averaging would drop them.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from tsdownsample import MinMaxLTTBDownsampler

METHOD: Final = "minmaxlttb"
#: LTTB keeps the first and last point and at least one in between.
MIN_POINTS: Final = 3
_DOWNSAMPLER: Final = MinMaxLTTBDownsampler()  # type: ignore[no-untyped-call]


def select(x: np.ndarray, y: np.ndarray, points: int) -> np.ndarray:
    """Indices (ascending) of at most `points` rows that keep the series' shape; all of them
    when there are no more. `x` (int64 or float64) must be ascending; `points` ≥ MIN_POINTS."""
    if len(y) <= points:
        return np.arange(len(y))
    chosen: np.ndarray = _DOWNSAMPLER.downsample(x, y, n_out=points)
    return chosen
