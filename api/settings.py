"""The API's settings (`TICKWIRE_*`), with the JWT secret resolved once at start."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from tickwire.settings import CommonSettings, MqttAddress

#: Values a copied `.env.example` or a tutorial would leave behind.
PLACEHOLDER_SECRETS = frozenset(
    {"change-me", "changeme", "changethis", "secret", "change-me-to-a-long-random-string"}
)
MIN_SECRET_LENGTH = 32
DEFAULT_ADMIN_EMAIL = "admin@example.com"
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)


class ApiSettings(CommonSettings):
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_header_timeout_s: float = Field(default=5.0, gt=0)
    """A request's line and headers must arrive within this (slowloris): else 408, closed."""
    http_keepalive_s: int = Field(default=5, ge=1)
    """An idle kept-alive connection is closed after this."""
    http_max_connections: int = Field(default=1000, ge=1)
    """Open connections at most (live streams included); past it 503 `too_many_connections`."""
    db_pool_max: int = 10
    db_timeout_s: float = Field(default=2.0, gt=0)
    """The longest a request waits for a database connection (pool or new), and for each
    statement of the CRUD and login routes; past it: 503 `database_unavailable`."""
    db_query_timeout_s: float = Field(default=30.0, gt=0)
    """The longest a history, stats or export statement may run (client and server side)."""
    secret: str | None = Field(default=None, repr=False)
    """JWT signing secret; unset → generated once and kept in the data dir (the demo)."""
    jwt_lifetime_s: int = Field(default=24 * 3600, gt=0)
    """How long a login token lives; every token expires (one without `exp` is refused)."""
    cookie_secure: bool = False
    """Send the login cookie over HTTPS only (`Secure`); set it behind TLS."""
    cookie_httponly: bool = True
    """Keep the login cookie from the page's scripts (`HttpOnly`; the dashboard needs no access)."""
    cookie_samesite: Literal["lax", "strict", "none"] = "lax"
    """The login cookie's `SameSite`; `none` needs `cookie_secure` (browsers drop it otherwise)."""
    login_failure_limit: int = Field(default=10, ge=1)
    """Failed logins one account may have within the window; the next attempt is a 429
    `too_many_attempts` even with the right password (DESIGN.md: 10 in 15 minutes)."""
    login_failure_window_s: float = Field(default=15 * 60, gt=0)
    login_address_limit: int = Field(default=100, ge=0)
    """Failed logins from one client address within the same window (any accounts); 0 → no
    limit per address. Never 1 to 99 (DESIGN.md: not below 100)."""
    password_hash_workers: int = Field(default=2, ge=1)
    """Passwords checked at once, in threads off the event loop (each takes ~0.1-0.3 s of CPU
    on several cores): more logins queue for a turn rather than starve every other request."""
    register_limit: int = Field(default=20, ge=1)
    """Registrations (attempts) from one client address within `register_window_s`."""
    register_window_s: float = Field(default=3600, gt=0)
    command_timeout_s: float = 30.0
    """A device command unanswered this long reads as `timeout`."""
    stream_keepalive_s: float = 15.0
    """Idle live streams get a `: keep-alive` comment this often."""
    stream_retry_ms: int = 2000
    """The reconnection delay a live stream asks EventSource to use."""
    stream_buffer_bytes: int = 2 * 1024 * 1024
    """Events waiting for one stream client beyond this drop it (it resumes with Last-Event-ID)."""
    stream_stall_s: float = 30.0
    """A stream write that does not complete this long drops its client."""
    stream_poll_s: float = 1.0
    """The hub reads the journal this often even without a notification (a safety net)."""
    stream_session_check_s: float = Field(default=5.0, gt=0)
    """Open streams whose login ended (logout, a password change, the account deactivated or
    deleted) are ended within this long: one query per API process for all its streams."""
    smtp_url: str | None = Field(default=None, repr=False)
    """`smtp://user:pass@host:port` (or `smtps://`) of the mail server; unset → email channels
    are refused (422 `email_not_configured`)."""
    webhook_allow_private: bool = False
    """Allow webhook URLs on loopback, private and link-local addresses (SSRF otherwise)."""
    stream_max_subjects: int = 1000
    """At most this many tickers plus devices in one stream's filter."""
    dashboard: bool = True
    """Serve the Dash dashboard from the API process (same origin as the API)."""
    mqtt_admin_url: str | None = Field(default=None, repr=False)
    """`mqtt://admin:…@host:port` of the broker's dynamic-security admin, or EMQX's REST API
    `http://<key>:<secret>@host:18083` (docs/deploy.md): device credentials are issued and
    topic ACLs kept (docs/broker.md). Unset → no credential management."""
    device_mqtt_url: str | None = None
    """`mqtt(s)://host:port` devices connect to, shown with their credentials (the dashboard's
    ready `mosquitto_pub` line, `GET /api/broker`); unset → the API's own broker address,
    without its login. Never holds credentials (refused at start)."""
    device_ca_file: Path | None = None
    """The CA devices verify an `mqtts://` device URL with (its path, as shown to them);
    unset → `TICKWIRE_MQTT_CA_FILE`."""
    dead_letter_replay_wait_s: float = Field(default=10.0, ge=0, le=60)
    """A dead letter's replay answers `pending` (202) when the ingester has not done it by then."""
    dashboards_dir: Path | None = None
    """A folder of dashboard JSON files (`*.json`, the export format) served read-only to every
    user; read once at start (a file that is not a valid dashboard stops the start)."""
    admin_email: str = DEFAULT_ADMIN_EMAIL
    admin_password: str | None = Field(default=None, repr=False)
    metrics_token: str | None = Field(default=None, repr=False)
    """`/metrics` then requires `Authorization: Bearer <it>`; unset → open (as `/health`)."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins (`https://host[:port]`, comma-separated, or `*`) whose pages may call the API with
    a bearer token; empty → no CORS headers, only the dashboard's own origin."""

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _not_a_placeholder(cls, value: object) -> object:
        """Empty (`TICKWIRE_METRICS_TOKEN=` in `.env`) is unset; else a long random value."""
        if value == "":
            return None
        if isinstance(value, str) and (
            value in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH
        ):
            raise ValueError(
                "TICKWIRE_METRICS_TOKEN is a placeholder or shorter than "
                f"{MIN_SECRET_LENGTH} characters: set a long random value"
            )
        return value

    @field_validator("device_ca_file", "dashboards_dir", mode="before")
    @classmethod
    def _no_ca_when_empty(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("device_mqtt_url", mode="before")
    @classmethod
    def _device_url(cls, value: object) -> object:
        """Empty is unset; else an MQTT address without a login (it is shown to every user)."""
        if value == "" or value is None:
            return None
        address = MqttAddress(str(value))
        if address.username is not None or address.password is not None:
            raise ValueError("TICKWIRE_DEVICE_MQTT_URL must not carry a login")
        return value

    def device_broker(self) -> MqttAddress:
        """Where devices connect (`device_mqtt_url`, else the API's broker), and their CA."""
        address = MqttAddress(self.device_mqtt_url or self.resolved_mqtt_url())
        return MqttAddress(repr(address), self.device_ca_file or self.mqtt_ca_file)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        """A comma-separated list; each an origin exactly as browsers send it (no path, no
        trailing slash, which would never match), or `*`."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for origin in value:
                if origin != "*" and not _ORIGIN.fullmatch(str(origin)):
                    raise ValueError(f"not an origin (scheme://host[:port]): {str(origin)[:100]!r}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.cookie_samesite == "none" and not self.cookie_secure:
            raise ValueError("TICKWIRE_COOKIE_SAMESITE=none needs TICKWIRE_COOKIE_SECURE=true")
        if 0 < self.login_address_limit < 100:
            raise ValueError("TICKWIRE_LOGIN_ADDRESS_LIMIT must be 0 (none) or at least 100")
        return self

    def loopback_url(self) -> str:
        """Where this process's own API answers (the dashboard's Python callbacks call it)."""
        host = self.http_host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.http_port}"

    def jwt_secret(self) -> str:
        """The configured secret, refused if it is a placeholder or short; else the demo's."""
        if self.secret is not None:
            if self.secret in PLACEHOLDER_SECRETS or len(self.secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    "TICKWIRE_SECRET is a placeholder or shorter than "
                    f"{MIN_SECRET_LENGTH} characters: set a long random value"
                )
            return self.secret
        return _kept_secret(self.data_dir / "secret")


def _kept_secret(path: Path) -> str:
    """A random secret generated on first use and kept (mode 600) for the next start."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(value)
    return value
