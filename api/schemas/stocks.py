"""Bodies of /api/stocks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints, computed_field

from api.schemas.common import Input, Output, Patch, Text, Ticker

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,10}$")]


class StockCreate(Input):
    ticker: Ticker
    name: Text | None = None
    exchange: Text | None = None
    currency: Currency | None = Field(default=None, description="e.g. USD")
    shared: bool = Field(
        default=False, description="shared market data, readable by all (admin only)"
    )


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
    owner_id: uuid.UUID | None
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def shared(self) -> bool:
        """Shared market data (no owner): readable by every user, changed by admins only."""
        return self.owner_id is None
