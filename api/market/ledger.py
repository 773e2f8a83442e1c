"""A portfolio's positions replayed from its transactions, average cost method: a buy adds
quantity·price + fee to the cost; a sell removes avg_cost·quantity of it and realizes
quantity·price − fee − avg_cost·quantity. Pure: the routes, the value history and the stream
all replay the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Below this a position is closed (float sums of sells leave crumbs).
_CRUMB = 1e-9


class InsufficientQuantity(ValueError):
    """A sell of more than was held at its time."""

    def __init__(self, ticker: str, time: datetime, held: float, sold: float) -> None:
        super().__init__(f"selling {sold:g} {ticker} at {time.isoformat()}: only {held:g} held")
        self.ticker, self.time, self.held, self.sold = ticker, time, held, sold


@dataclass(slots=True)
class Position:
    quantity: float = 0.0
    cost: float = 0.0
    realized: float = 0.0

    @property
    def avg_cost(self) -> float | None:
        return self.cost / self.quantity if self.quantity else None

    def apply(self, tx: Mapping[str, Any]) -> None:
        """One transaction; `InsufficientQuantity` for a sell of more than is held."""
        quantity, price, fee = tx["quantity"], tx["price"], tx["fee"]
        if tx["side"] == "buy":
            self.quantity += quantity
            self.cost += quantity * price + fee
            return
        if quantity > self.quantity * (1 + 1e-12) + _CRUMB:
            raise InsufficientQuantity(tx["ticker"], tx["time"], self.quantity, quantity)
        avg = self.cost / self.quantity
        self.realized += quantity * price - fee - avg * quantity
        self.cost -= avg * quantity
        self.quantity -= quantity
        if self.quantity < _CRUMB:
            self.quantity, self.cost = 0.0, 0.0


def replay(transactions: Iterable[Mapping[str, Any]]) -> dict[str, Position]:
    """Positions by ticker after `transactions` (in (time, id) order)."""
    positions: dict[str, Position] = {}
    for tx in transactions:
        positions.setdefault(tx["ticker"], Position()).apply(tx)
    return positions
