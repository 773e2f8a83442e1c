"""Responses of /api/alerts: an alert (as the live stream shows it) and its history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from tickwire import alert_kinds

# The kinds of `tickwire.alert_kinds` as a Literal of plain strings, not the enum: a query or
# body is validated and documented (inline OpenAPI enum, `literal_error`) as it always was. A
# Literal built at run time is opaque to mypy, which sees the strings as str.
if TYPE_CHECKING:
    AlertKind = str
else:
    AlertKind = Literal[alert_kinds.NAMES]
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
