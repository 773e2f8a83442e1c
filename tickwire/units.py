"""The units of the metrics tickwire knows (what the simulator and the demo fleet send): shown
beside a metric's name on the dashboard. A metric not listed has no unit shown."""

from __future__ import annotations

from typing import Final

UNITS: Final[dict[str, str]] = {
    "temperature": "°C",
    "humidity": "%",
    "pressure": "hPa",
    "battery": "%",
    "voltage": "V",
    "current": "A",
    "power": "W",
    "co2": "ppm",
}


def labelled(metric: str) -> str:
    """`temperature (°C)`; the name alone without a known unit."""
    unit = UNITS.get(metric)
    return f"{metric} ({unit})" if unit else metric
