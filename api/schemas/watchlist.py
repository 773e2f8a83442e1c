"""Bodies of /api/watchlist."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, model_validator

from api.schemas.common import Input, Output, Ticker


class WatchlistEntryWrite(Input):
    """A ticker to watch, with optional price levels that raise PRICE_ABOVE / PRICE_BELOW."""

    ticker: Ticker
    alert_above: float | None = Field(default=None, description="alert when the price rises above")
    alert_below: float | None = Field(default=None, description="alert when the price falls below")

    @model_validator(mode="after")
    def _below_under_above(self) -> WatchlistEntryWrite:
        above, below = self.alert_above, self.alert_below
        if above is not None and below is not None and not below < above:
            raise ValueError("alert_below must be less than alert_above")
        return self


class WatchlistEntryRead(Output):
    ticker: str
    alert_above: float | None
    alert_below: float | None
    created_at: datetime
