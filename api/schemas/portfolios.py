"""Bodies of /api/portfolios."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from api.schemas.common import Input, Patch, Text, Ticker

#: Quantities and prices: positive, finite, and below what a float8 sum keeps exact enough.
Positive = Annotated[float, Field(gt=0, le=1e12)]


class PortfolioWrite(Input):
    name: Annotated[Text, Field(max_length=100)]


class PortfolioPatch(Patch):
    name: Annotated[Text, Field(max_length=100)] | None = None


class TransactionWrite(Input):
    """A buy or a sell; `time` defaults to now (naive means UTC)."""

    ticker: Ticker
    side: Literal["buy", "sell"]
    quantity: Positive
    price: Positive
    time: Annotated[datetime | None, Field(strict=False)] = None
    fee: Annotated[float, Field(ge=0, le=1e12)] = 0.0
