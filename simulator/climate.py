"""The temperature and humidity a sensor reads: a daily cycle, noise and occasional spikes.

Pure: the only state is the random generator and the spike in progress.
"""

from __future__ import annotations

import math
import random

MS_PER_HOUR = 3_600_000


class Climate:
    """One sensor's surroundings.

    Temperature follows a sine over the UTC day (coolest 03:00, warmest 15:00) around
    `mean + offset`, with gaussian noise. With `spike_probability` per reading a spike starts:
    for 3 to 6 readings the temperature is above 30 °C (what the HIGH_TEMP alert is for).
    Humidity moves against temperature around 50 %.
    """

    def __init__(
        self,
        rng: random.Random,
        offset: float = 0.0,
        mean: float = 24.0,
        amplitude: float = 4.0,
        noise: float = 0.3,
        spike_probability: float = 0.01,
    ) -> None:
        self.rng = rng
        self.offset = offset
        self.mean = mean
        self.amplitude = amplitude
        self.noise = noise
        self.spike_probability = spike_probability
        self._spike_left = 0
        self._spike_peak = 0.0

    def baseline(self, ts_ms: int) -> float:
        """The noiseless temperature at `ts_ms` (epoch milliseconds)."""
        hour = (ts_ms / MS_PER_HOUR) % 24
        return self.mean + self.offset + self.amplitude * math.sin(2 * math.pi * (hour - 9) / 24)

    def reading(self, ts_ms: int) -> tuple[float, float]:
        """(temperature °C, humidity %) at `ts_ms`, rounded to 2 decimals."""
        temperature = self.baseline(ts_ms) + self.rng.gauss(0.0, self.noise)
        if self._spike_left == 0 and self.rng.random() < self.spike_probability:
            self._spike_left = self.rng.randint(3, 6)
            self._spike_peak = self.rng.uniform(31.5, 36.0)
        if self._spike_left > 0:
            self._spike_left -= 1
            temperature = max(30.5, self._spike_peak + self.rng.gauss(0.0, self.noise))
        excess = temperature - (self.mean + self.offset)
        humidity = 50.0 - 2.25 * excess + self.rng.gauss(0.0, 0.75)
        return round(temperature, 2), round(min(95.0, max(5.0, humidity)), 2)
