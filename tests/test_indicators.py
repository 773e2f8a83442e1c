"""The indicator formulas (`tickwire.indicators`): textbook values, the warm-up, and that the
module stays importable without Dash (the API will import it)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tickwire import indicators


def test_overlays_are_the_textbook_formulas() -> None:
    closes = [float(x) for x in range(1, 26)]
    sma = indicators.sma(closes)
    assert sma[:19] == [None] * 19 and sma[19] == pytest.approx(10.5)
    assert sma[24] == pytest.approx(15.5)
    ema = indicators.ema([10.0, 20.0], period=3)
    assert ema == pytest.approx([10.0, 15.0])
    upper, lower = indicators.bollinger([1.0, 3.0], period=2, sigmas=2)
    assert upper == [None, pytest.approx(4.0)] and lower == [None, pytest.approx(0.0)]


def test_no_closes_no_values_and_a_flat_series_has_no_width() -> None:
    assert indicators.sma([]) == [] and indicators.ema([]) == []
    assert indicators.bollinger([]) == ([], [])
    flat = [7.0] * indicators.PERIOD
    upper, lower = indicators.bollinger(flat)
    assert upper[-1] == pytest.approx(7.0) and lower[-1] == pytest.approx(7.0)
    assert indicators.ema(flat)[-1] == pytest.approx(7.0)


def test_too_few_closes_give_no_window_values_but_an_ema() -> None:
    closes = [1.0, 2.0, 3.0]
    assert indicators.sma(closes, period=4) == [None, None, None]
    assert indicators.bollinger(closes, period=4) == ([None] * 3, [None] * 3)
    assert indicators.ema(closes, period=4) == pytest.approx([1.0, 1.4, 2.04])


def test_the_module_imports_without_dash() -> None:
    script = "import sys, tickwire.indicators; print('dash' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
