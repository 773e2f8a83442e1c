"""Configuration shared by every service, read once from the environment and `.env`.

Each service subclasses `CommonSettings` with its own fields; nothing else reads `os.environ`.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """The `TICKWIRE_*` variables (README.md, "Configuration") more than one service needs."""

    model_config = SettingsConfigDict(env_prefix="TICKWIRE_", env_file=".env", extra="ignore")

    database_url: str | None = None
    mqtt_url: str | None = None
    mqtt_protocol: int = 5
    """MQTT 5 (default) or 3.1.1 for brokers without 5 (amqtt)."""
    mqtt_ca_file: Path | None = None
    """CA certificate(s) the broker's certificate must chain to, for `mqtts://` URLs (the
    main and the admin URL); unset: the system's trusted CAs."""
    data_dir: Path = Path(".tickwire")
    log_level: str = "INFO"

    @field_validator("mqtt_protocol")
    @classmethod
    def _protocol(cls, value: int) -> int:
        if value not in (5, 311):
            raise ValueError("mqtt_protocol must be 5 or 311")
        return value

    @field_validator("mqtt_ca_file", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("mqtt_ca_file")
    @classmethod
    def _readable_ca(cls, value: Path | None) -> Path | None:
        """A CA file that cannot be loaded stops the service at start, not at each connection."""
        if value is None:
            return None
        value = value.expanduser().resolve()
        try:
            ssl.create_default_context(cafile=str(value))
        except OSError as exc:  # missing, unreadable, or not PEM certificates (ssl.SSLError)
            raise ValueError(f"cannot load the CA file {value}: {exc}") from None
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def embedded_pg_dir(self) -> Path:
        return self.data_dir / "pg"

    @property
    def embedded_broker_dir(self) -> Path:
        return self.data_dir / "broker"

    def resolved_database_url(self) -> str:
        """The configured URL, else the embedded server's socket under the data dir."""
        if self.database_url:
            return self.database_url
        return embedded_database_url(self.embedded_pg_dir)

    def resolved_mqtt_url(self) -> str:
        return self.mqtt_url or "mqtt://127.0.0.1:1883"

    def mqtt_address(self, url: str | None = None) -> MqttAddress:
        """The broker at `url` (default: the resolved TICKWIRE_MQTT_URL) with the CA file."""
        return MqttAddress(url or self.resolved_mqtt_url(), self.mqtt_ca_file)


def embedded_database_url(pg_dir: Path, database: str = "tickwire") -> str:
    """URL of the embedded PostgreSQL: unix socket in its data directory, trust auth."""
    return f"postgresql://postgres@/{database}?host={quote(str(pg_dir / 'data'), safe='/')}"


#: URL schemes of a plain connection and of one over TLS, with their default ports.
PLAIN_SCHEMES = ("mqtt", "tcp", "")
TLS_SCHEMES = ("mqtts", "ssl")
PLAIN_PORT, TLS_PORT = 1883, 8883


class MqttAddress:
    """Host, port, credentials and transport parsed from `mqtt://user:pass@host:port` or
    `mqtts://…` (TLS; the broker's certificate is verified against `ca_file`, else the
    system's CAs, and must name `host`)."""

    def __init__(self, url: str, ca_file: Path | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in PLAIN_SCHEMES + TLS_SCHEMES:
            raise ValueError(
                f"unsupported MQTT URL scheme {parts.scheme!r} (use mqtt:// or mqtts://)"
            )
        self.tls = parts.scheme in TLS_SCHEMES
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (TLS_PORT if self.tls else PLAIN_PORT)
        # Percent-escapes decoded: a password may hold any character ("p%40ss" → "p@ss").
        self.username = None if parts.username is None else unquote(parts.username)
        self.password = None if parts.password is None else unquote(parts.password)
        self.ca_file = ca_file if self.tls else None

    def __repr__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"
