"""Prices as geometric random walks; pure apart from the walk's own random generator."""

from __future__ import annotations

import math
import random
from typing import Final

#: A walk never goes below one cent, so a price is always positive.
MIN_PRICE: Final = 0.01


class PriceWalk:
    """Each step multiplies the price by exp(N(-σ²/2, σ)): no drift in expectation."""

    def __init__(
        self, price: float, volatility: float, rng: random.Random, mean_volume: float = 200.0
    ) -> None:
        if price <= 0 or volatility < 0:
            raise ValueError("a walk needs a positive price and a non-negative volatility")
        self.price = price
        self.volatility = volatility
        self.rng = rng
        self.mean_volume = mean_volume

    @property
    def quote(self) -> float:
        """The price as published: rounded to the cent, never below `MIN_PRICE`."""
        return max(MIN_PRICE, round(self.price, 2))

    def step(self) -> float:
        """Move the price one step; return the new quote."""
        sigma = self.volatility
        factor = math.exp(self.rng.gauss(-sigma * sigma / 2, sigma))
        self.price = max(MIN_PRICE, self.price * factor)
        return self.quote

    def volume(self) -> int:
        """Shares traded in one tick: a positive integer, log-normal around `mean_volume`."""
        return max(1, round(self.rng.lognormvariate(math.log(self.mean_volume), 0.8)))
