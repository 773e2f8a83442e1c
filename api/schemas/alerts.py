"""Responses of /api/alerts: an alert (as the live stream shows it) and its history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

AlertKind = Literal[
    "HIGH_TEMP", "THRESHOLD", "OFFLINE", "ONLINE", "PRICE_MOVE", "PRICE_ABOVE", "PRICE_BELOW"
]
AlertState = Literal["ACTIVE", "ACKED", "CLEARED"]
StateFilter = Literal["ACTIVE", "ACKED", "CLEARED", "open"]


class AlertRead(BaseModel):
    """An alert; `owner_id` null: a built-in one, seen by whoever may read its subject."""

    id: int
    rule_id: int | None = Field(description="the rule that raised it; null for built-ins")
    kind: str
    subject: str = Field(description="the device id or the ticker")
    device_id: str | None
    ticker: str | None
    owner_id: uuid.UUID | None = Field(description="the user it belongs to (rules, watchlist)")
    severity: str
    state: AlertState
    message: str
    value: float | None = Field(description="the reading, price, move (%) or timeout (s)")
    raised_at: datetime
    acked_at: datetime | None
    acked_by: uuid.UUID | None
    cleared_at: datetime | None
    updated_at: datetime


class AlertEventRead(BaseModel):
    """One state change of an alert."""

    id: int
    state: AlertState
    at: datetime
    detail: str | None
