"""The ingester's settings (`TICKWIRE_*`)."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from pydantic import Field, field_validator

from ingest.flush import FlushPolicy
from tickwire.contract import SUBSCRIPTIONS, Limits
from tickwire.settings import CommonSettings


def _default_instance() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class IngestSettings(CommonSettings):
    """Batching, validation limits and the MQTT session of the ingester."""

    ingest_client_id: str = "tickwire-ingest"
    """MQTT client id of the persistent session: keep it stable across restarts."""
    ingest_instance: str = Field(default_factory=_default_instance)
    ingest_share: str | None = None
    """Subscribe through `$share/<group>/…`: the ingesters on one group split the stream.
    Each needs its own `ingest_client_id` (by default the host's name is appended to it)."""
    ingest_session_expiry_s: int = 7 * 24 * 3600
    ingest_receive_maximum: int = Field(default=20_000, ge=1, le=65_535)
    ingest_queue_max: int = 50_000
    ingest_writers: int = Field(default=2, ge=1, le=8)
    """Database connections committing batches concurrently (acks stay in order)."""
    batch_max_rows: int = 20_000
    batch_max_messages: int = 5_000
    batch_max_age_ms: float = 200.0
    batch_linger_ms: float = 25.0
    """An idle writer takes a batch once it is this old (`batch_max_age_ms` caps it under
    load): at 1 000 msg/s, 25 ms makes the ingester's CPU 9 % of a core against 12 % at 10 ms
    (`bench.idle`); it adds at most this much to a message's latency at low rates."""
    ingest_seen_interval_s: float = Field(default=5.0, ge=0)
    """A device's `last_seen` is written at most this often (and at most every quarter of its
    offline timeout; at every message when that timeout is under 2.67 s) while it stays
    ONLINE; a status change is written at once."""
    rollup_merge_interval_ms: float = Field(default=10_000.0, gt=0)
    """Plain PostgreSQL: the rollup partials batches append are merged once ingest is quiet
    for half a second, and at least this often under load (readers read raw rows over the
    windows not merged yet)."""
    auto_register: bool = True
    max_payload_bytes: int = 256 * 1024
    max_readings: int = 10_000
    ts_max_age_days: float = 3652.0
    ts_max_future_s: float = 300.0
    stream_keep_events: int = Field(default=200_000, ge=1)
    """The live stream's replay window: at most this many events back…"""
    stream_keep_s: float = Field(default=600.0, gt=0)
    """…and at most this old; a client that missed more gets a `reset` event."""
    stream_prune_interval_s: float = Field(default=5.0, gt=0)
    """How often the stream journal and the dead letters are pruned."""
    dead_letter_keep_days: float = Field(default=30.0, gt=0)
    """Dead letters are kept this long…"""
    dead_letter_keep_rows: int = Field(default=100_000, ge=1)
    """…and at most this many (the newest)."""
    alerts_enabled: bool = True
    """Run an alert engine in this ingester: the engines of all ingesters and of
    `python -m ingest --alerts-only` processes elect one leader per database."""
    alerts_ingester_stale_s: float = Field(default=5.0, gt=0)
    """An ingester whose heartbeat is older than this is not listening: no device goes
    OFFLINE meanwhile…"""
    alerts_ingester_gone_s: float = Field(default=30.0, gt=0)
    """…until its heartbeat is older than this (then it is gone and no longer counted)."""
    alerts_feed_keep_s: float = Field(default=3600.0, gt=0)
    """The alert feed keeps what no engine consumed at most this long."""
    alerts_max_lag_s: float = Field(default=10.0, gt=0)
    """Readings older than this (vs. their batch's receive time) never raise or clear alerts."""

    @field_validator("ingest_share")
    @classmethod
    def _share_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value or any(c in value for c in "/+#\0") or len(value.encode()) > 64:
            raise ValueError("a share group is a non-empty name without '/', '+', '#' or NUL")
        return value

    def client_id(self) -> str:
        """The MQTT client id: in a share group, unique per host unless set explicitly."""
        if self.ingest_share is not None and "ingest_client_id" not in self.model_fields_set:
            return f"{self.ingest_client_id}-{socket.gethostname()}"
        return self.ingest_client_id

    def subscriptions(self) -> tuple[str, ...]:
        """The topic filters the ingester subscribes to (through its share group, if any)."""
        if self.ingest_share is None:
            return SUBSCRIPTIONS
        return tuple(f"$share/{self.ingest_share}/{topic}" for topic in SUBSCRIPTIONS)

    def limits(self) -> Limits:
        return Limits(
            max_payload_bytes=self.max_payload_bytes,
            max_readings=self.max_readings,
            max_age=timedelta(days=self.ts_max_age_days),
            max_future=timedelta(seconds=self.ts_max_future_s),
        )

    def flush_policy(self) -> FlushPolicy:
        return FlushPolicy(
            max_rows=self.batch_max_rows,
            max_messages=self.batch_max_messages,
            max_age_s=self.batch_max_age_ms / 1000,
            linger_s=self.batch_linger_ms / 1000,
        )
