"""Responses of /api/alerts: an alert (as the live stream shows it) and its history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import DeviceId, Input, Ticker
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


AlertIdValue = Annotated[int, Field(ge=1, le=2**63 - 1)]


class AckMany(Input):
    """`POST /alerts/ack`: the alerts to acknowledge, by ids and/or a filter (all given parts
    must match); at least one part, so that an empty body never acknowledges everything."""

    ids: list[AlertIdValue] | None = Field(
        default=None, min_length=1, max_length=10_000, description="these alerts"
    )
    state: StateFilter | None = Field(default=None, description="only this state (or `open`)")
    kind: AlertKind | None = Field(default=None, description="only this kind")
    device_id: DeviceId | None = Field(default=None, description="only on this device")
    ticker: Ticker | None = Field(default=None, description="only on this ticker")

    @model_validator(mode="after")
    def _something(self) -> AckMany:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError("give ids or at least one of state, kind, device_id, ticker")
        return self


class AckedCount(BaseModel):
    """How many alerts went ACTIVE → ACKED in this call."""

    acked: int
