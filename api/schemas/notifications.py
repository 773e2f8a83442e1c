"""Bodies of /api/notification-channels and /api/silences."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from api.schemas.alert_rules import Severity
from api.schemas.alerts import AlertKind
from api.schemas.common import DeviceId, Input, Patch, Text, Ticker
from tickwire.notifications import EMAIL_RE

Event = Literal["raised", "acked", "cleared"]
Url = Annotated[
    str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\x00-\x20\x7f]*$")
]
Secret = Annotated[
    str, StringConstraints(min_length=16, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")
]
Email = Annotated[str, StringConstraints(max_length=254)]
Comment = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")]


class ChannelFilter(Input):
    """Which changes a channel gets; an omitted (or empty) part matches everything."""

    kinds: list[AlertKind] | None = Field(default=None, max_length=20)
    min_severity: Severity | None = None
    events: list[Event] | None = Field(default=None, max_length=3)


def _email(value: str | None) -> str | None:
    if value is not None and not EMAIL_RE.fullmatch(value):
        raise ValueError("not an email address")
    return value


class WebhookWrite(Input):
    name: Text
    kind: Literal["webhook"]
    url: Url = Field(description="http(s); see `TICKWIRE_WEBHOOK_ALLOW_PRIVATE`")
    secret: Secret = Field(description="HMAC-SHA256 key (16-200 characters); never returned")
    filter: ChannelFilter = Field(default_factory=ChannelFilter)


class EmailWrite(Input):
    name: Text
    kind: Literal["email"]
    to: Email = Field(description="one address")
    filter: ChannelFilter = Field(default_factory=ChannelFilter)

    _to = field_validator("to")(_email)


ChannelWrite = Annotated[WebhookWrite | EmailWrite, Field(discriminator="kind")]


class ChannelPatch(Patch):
    """What changes; a field of the other kind of channel is 422 `invalid_channel`."""

    name: Text | None = None
    url: Url | None = None
    secret: Secret | None = None
    to: Email | None = None
    filter: ChannelFilter | None = None

    _to = field_validator("to")(_email)


class ChannelRead(BaseModel):
    """A channel as the API shows it: never its secret."""

    id: int
    owner_id: uuid.UUID
    name: str
    kind: Literal["webhook", "email"]
    url: str | None
    to: str | None
    filter: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> ChannelRead:
        return cls(
            id=row["id"],
            owner_id=row["owner_id"],
            name=row["name"],
            kind=row["kind"],
            url=row["url"],
            to=row["email_to"],
            filter={
                "kinds": row["kinds"],
                "min_severity": row["min_severity"],
                "events": row["events"],
            },
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class AttemptRead(BaseModel):
    at: datetime
    ok: bool
    status_code: int | None = Field(description="the HTTP status (webhooks)")
    error: str | None


class DeliveryRead(BaseModel):
    """One change sent (or being sent) to one channel, with every attempt."""

    id: uuid.UUID = Field(description="the X-Tickwire-Delivery header, the same on retries")
    alert_id: int = Field(description="0 for a test")
    event: Literal["raised", "acked", "cleared", "test"]
    status: Literal["pending", "sent", "failed"]
    attempts: list[AttemptRead]
    next_at: datetime | None = Field(description="the next attempt (pending only)")
    give_up_at: datetime
    last_error: str | None
    created_at: datetime
    done_at: datetime | None


class TestSent(BaseModel):
    """A test delivery, queued: follow it in the channel's deliveries."""

    delivery_id: uuid.UUID


class Matchers(Input):
    """What a silence matches: every given matcher (at least one)."""

    kind: AlertKind | None = None
    device_id: DeviceId | None = None
    ticker: Ticker | None = None

    @model_validator(mode="after")
    def _some(self) -> Matchers:
        if self.kind is None and self.device_id is None and self.ticker is None:
            raise ValueError("give at least one of kind, device_id, ticker")
        return self


class SilenceWrite(Input):
    fields: ClassVar[tuple[str, ...]] = ("starts_at", "ends_at")
    matchers: Matchers
    starts_at: datetime = Field(strict=False, description="ISO-8601 with a time zone")
    ends_at: datetime = Field(strict=False, description="after `starts_at`")
    comment: Comment = ""

    @model_validator(mode="after")
    def _window(self) -> SilenceWrite:
        for name in self.fields:
            value = getattr(self, name)
            if value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone")
            try:  # 0001-01-01T00:00+14:00 is before year 1 in UTC: not storable
                setattr(self, name, value.astimezone(UTC))
            except OverflowError:
                raise ValueError(f"{name} is out of range") from None
        if not self.starts_at < self.ends_at:
            raise ValueError("starts_at must be before ends_at")
        return self


class SilenceRead(BaseModel):
    id: int
    owner_id: uuid.UUID
    matchers: dict[str, str | None]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> SilenceRead:
        matchers = {k: row[k] for k in ("kind", "device_id", "ticker")}
        fields = {k: row[k] for k in ("id", "owner_id", "starts_at", "ends_at", "comment")}
        return cls(matchers=matchers, created_at=row["created_at"], **fields)
