"""The ORM side of the schema (sql/0001_core.sql): users and what they own.

Only what the CRUD routes need is mapped; time series stay with asyncpg and plain SQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID
from fastapi_users_db_sqlalchemy.generics import GUID
from sqlalchemy import BigInteger, DateTime, ForeignKey, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    __tablename__ = "users"
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    #: Tokens issued before this are refused (set by a password change; sql/0006).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Device(Base):
    __tablename__ = "devices"
    device_id: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    kind: Mapped[str] = mapped_column(default="sensor")
    owner_id: Mapped[uuid.UUID | None] = mapped_column(GUID, ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(default="UNKNOWN")
    last_seen: Mapped[datetime | None]
    offline_timeout_s: Mapped[float] = mapped_column(default=10.0)
    auto_registered: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
    tickers: Mapped[list[DeviceTicker]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="DeviceTicker.ticker"
    )


class DeviceTicker(Base):
    __tablename__ = "device_tickers"
    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.device_id", ondelete="CASCADE"), primary_key=True
    )
    ticker: Mapped[str] = mapped_column(
        ForeignKey("stocks.ticker", ondelete="CASCADE"), primary_key=True
    )


class Stock(Base):
    __tablename__ = "stocks"
    ticker: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str | None]
    exchange: Mapped[str | None]
    currency: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class WatchlistEntry(Base):
    __tablename__ = "watchlist"
    user_id: Mapped[uuid.UUID] = mapped_column(GUID, ForeignKey("users.id"), primary_key=True)
    ticker: Mapped[str] = mapped_column(ForeignKey("stocks.ticker"), primary_key=True)
    alert_above: Mapped[float | None]
    alert_below: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Preferences(Base):
    __tablename__ = "user_preferences"
    user_id: Mapped[uuid.UUID] = mapped_column(GUID, ForeignKey("users.id"), primary_key=True)
    preferences: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class AlertRule(Base):
    __tablename__ = "alert_rules"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(GUID, ForeignKey("users.id"))
    name: Mapped[str]
    kind: Mapped[str]
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.device_id"))
    device_kind: Mapped[str | None]
    ticker: Mapped[str | None] = mapped_column(ForeignKey("stocks.ticker"))
    metric: Mapped[str | None]
    operator: Mapped[str | None] = mapped_column(String)
    threshold: Mapped[float | None]
    duration_s: Mapped[float] = mapped_column(default=0.0)
    window_s: Mapped[float | None]
    hysteresis: Mapped[float] = mapped_column(default=0.0)
    severity: Mapped[str] = mapped_column(default="warning")
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
