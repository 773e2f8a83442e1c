"""Bodies of /api/devices."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from api.schemas.common import DeviceId, Input, Kind, Output, Patch, Text, Ticker, UserId

Status = Literal["ONLINE", "OFFLINE", "UNKNOWN"]
TickerList = Annotated[list[Ticker], Field(max_length=1000, description="tickers it monitors")]
OfflineTimeout = Annotated[
    float, Field(gt=0, le=7 * 86400, description="seconds without a message before OFFLINE")
]
OwnerId = Annotated[UserId, Field(description="the owner (admin only; default the caller)")]


class DeviceCreate(Input):
    device_id: DeviceId
    name: Text | None = Field(default=None, description="default: the device id")
    kind: Kind = "sensor"
    tickers: TickerList = Field(default_factory=list)
    offline_timeout_s: OfflineTimeout = 10.0
    owner_id: OwnerId | None = None


class DeviceUpdate(Patch):
    """Only what is sent changes; `tickers` replaces the whole set. Status is read-only."""

    nullable: ClassVar[frozenset[str]] = frozenset()
    name: Text | None = None
    kind: Kind | None = None
    tickers: TickerList | None = None
    offline_timeout_s: OfflineTimeout | None = None
    owner_id: OwnerId | None = None


class DeviceRead(Output):
    device_id: str
    name: str
    kind: str
    owner_id: uuid.UUID | None
    tickers: list[str]
    status: Status
    last_seen: datetime | None
    offline_timeout_s: float
    auto_registered: bool
    created_at: datetime
    updated_at: datetime

    @field_validator("tickers", mode="before")
    @classmethod
    def _ticker_names(cls, value: Any) -> Any:
        """The ORM gives DeviceTicker rows; the API gives their tickers."""
        return [getattr(item, "ticker", item) for item in value]
