"""Configuration shared by every service, read once from the environment and `.env`.

Each service subclasses `CommonSettings` with its own fields; nothing else reads `os.environ`.
"""

from __future__ import annotations

from pathlib import Path
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
    data_dir: Path = Path(".tickwire")
    log_level: str = "INFO"

    @field_validator("mqtt_protocol")
    @classmethod
    def _protocol(cls, value: int) -> int:
        if value not in (5, 311):
            raise ValueError("mqtt_protocol must be 5 or 311")
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


def embedded_database_url(pg_dir: Path, database: str = "tickwire") -> str:
    """URL of the embedded PostgreSQL: unix socket in its data directory, trust auth."""
    return f"postgresql://postgres@/{database}?host={quote(str(pg_dir / 'data'), safe='/')}"


class MqttAddress:
    """Host, port and credentials parsed from `mqtt://user:pass@host:port`."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp", ""):
            raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r} (use mqtt://)")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 1883
        # Percent-escapes decoded: a password may hold any character ("p%40ss" → "p@ss").
        self.username = None if parts.username is None else unquote(parts.username)
        self.password = None if parts.password is None else unquote(parts.password)

    def __repr__(self) -> str:
        return f"mqtt://{self.host}:{self.port}"
