"""Bodies of /api/stocks: market data, without an owner (read by all, written by admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, field_validator

from api.schemas.common import Input, Output, Patch, Text, Ticker

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,10}$")]


class StockCreate(Input):
    ticker: Ticker
    name: Text | None = None
    exchange: Text | None = None
    currency: Currency | None = Field(default=None, description="e.g. USD")
    shared: bool = Field(
        default=True,
        description="every stock is shared market data: true, the only value (kept for older "
        "clients; false → 422)",
    )

    @field_validator("shared")
    @classmethod
    def _always_shared(cls, shared: bool) -> bool:
        if not shared:
            raise ValueError("every stock is shared market data: a user's own is no more")
        return shared


class StockUpdate(Patch):
    """Only what is sent changes; `null` clears a field."""

    nullable: ClassVar[frozenset[str]] = frozenset({"name", "exchange", "currency"})
    name: Text | None = None
    exchange: Text | None = None
    currency: Currency | None = None


class StockRead(Output):
    ticker: str
    name: str | None
    exchange: str | None
    currency: str | None
    created_at: datetime
    shared: Literal[True] = Field(
        default=True, description="always true: every user reads every stock"
    )
