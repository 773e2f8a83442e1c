"""The notifier's settings (`TICKWIRE_*`)."""

from __future__ import annotations

from pydantic import Field

from tickwire.settings import CommonSettings


class NotifySettings(CommonSettings):
    """Where email goes, which webhook addresses are allowed, and the retry schedule."""

    smtp_url: str | None = Field(default=None, repr=False)
    """`smtp://user:pass@host:port` (STARTTLS when offered) or `smtps://` (TLS from the start)."""
    mail_from: str = "tickwire@localhost"
    """The `From` of notification email."""
    webhook_allow_private: bool = False
    """Allow webhook URLs on loopback, private and link-local addresses (SSRF otherwise)."""
    notify_senders: int = Field(default=4, ge=1, le=64)
    """Deliveries in flight at once (one database connection each): a dead endpoint holds
    one sender for at most `notify_timeout_s`, the others go on."""
    notify_timeout_s: float = Field(default=10.0, gt=0)
    """One attempt (connect, send, answer) at most this long."""
    notify_retry_base_s: float = Field(default=10.0, gt=0)
    """The first retry's delay; each next one doubles, up to `notify_retry_max_s`."""
    notify_retry_max_s: float = Field(default=3600.0, gt=0)
    notify_give_up_s: float = Field(default=24 * 3600.0, gt=0)
    """A delivery not made this long after its change is `failed` (kept, listed)."""
    notify_digest_min: int = Field(default=5, ge=0, le=1000)
    """An email channel with this many changes due at once gets them as one digest message
    (0 or 1: never a digest)."""
    notify_digest_max: int = Field(default=200, ge=2, le=10_000)
    """At most this many changes in one digest."""
    notify_poll_s: float = Field(default=1.0, gt=0)
    """The outbox and the due retries are read this often without a wake-up."""
