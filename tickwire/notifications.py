"""What the API and the notifier (`notify/`) agree on about notifications, once: which webhook
URLs are allowed (SSRF), which email addresses, and how a webhook body is signed.

A webhook's URL must be `http` or `https`, without credentials, on a host that is not on a
loopback, private, link-local, shared, multicast or reserved address, unless the admin setting
`TICKWIRE_WEBHOOK_ALLOW_PRIVATE` allows those. The API checks the URL as written (an address
literal, or `localhost`); the notifier checks again every address the host name resolves to
before each attempt, so a public name that resolves to a private address is refused too.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import socket
from typing import Final
from urllib.parse import SplitResult, urlsplit

EVENTS: Final = ("raised", "acked", "cleared")
SEVERITIES: Final = ("info", "warning", "critical")
SIGNATURE_HEADER: Final = "X-Tickwire-Signature"
DELIVERY_HEADER: Final = "X-Tickwire-Delivery"
_NUMERIC_HOST: Final = re.compile(r"(0x)?[0-9a-f.x]+", re.IGNORECASE)
_LOCAL_NAMES: Final = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
#: An address a mail server takes, without anything that would end a header line.
EMAIL_RE: Final = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"
)


class RefusedUrl(ValueError):
    """A webhook URL that may not be used; the message says why."""


def sign(body: bytes, secret: str) -> str:
    """The `X-Tickwire-Signature` value: `sha256=<hex HMAC-SHA256 of body with secret>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_webhook_url(url: str, allow_private: bool) -> SplitResult:
    """`url` split, if it may be a webhook's; else `RefusedUrl`."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError as exc:
        raise RefusedUrl(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise RefusedUrl("only http and https URLs")
    if not parts.hostname:
        raise RefusedUrl("no host")
    if parts.username is not None or parts.password is not None:
        raise RefusedUrl("no credentials in the URL (sign with the secret instead)")
    if not allow_private:
        host = parts.hostname.lower().rstrip(".")
        if host in _LOCAL_NAMES or host.endswith(".localhost"):
            raise RefusedUrl(f"{host} is local (TICKWIRE_WEBHOOK_ALLOW_PRIVATE is off)")
        # An address, or what resolvers read as one (2130706433, 0x7f.1, 127.1).
        if _NUMERIC_HOST.fullmatch(host) or ":" in host:
            _check_literal(host)
    return parts


def _check_literal(host: str) -> None:
    try:
        check_address(host.strip("[]"))
    except RefusedUrl:
        raise
    except ValueError:
        raise RefusedUrl(f"{host}: write an address in full dotted or IPv6 form") from None


def check_address(address: str) -> None:
    """`RefusedUrl` if `address` (an IP literal; else ValueError) is not a public one."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        raise RefusedUrl(f"{address} is not a public address (TICKWIRE_WEBHOOK_ALLOW_PRIVATE)")


def check_resolved(host: str, port: int) -> None:
    """`RefusedUrl` if any address `host` resolves to is not public (blocking: run it in a
    thread); OSError when it does not resolve."""
    for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        check_address(str(info[4][0]).split("%")[0])
