"""The HTTP connections uvicorn holds, bounded in time and number.

uvicorn times out only the idle gap *after* a response (`timeout_keep_alive`): a connection
that never completes a request head — connected and silent, or sending a header a byte at a
time (slowloris) — is held for ever, and enough of them exhaust the process's descriptors.
`bounded_protocol()` is uvicorn's httptools protocol with two limits added:

- a request head (request line and headers) must arrive within `header_timeout_s` of the
  connection opening, or of its first byte on a kept-alive connection; else 408 and close;
- past `max_connections` open connections, a new one gets 503 `too_many_connections` and is
  closed at once, so its descriptor is freed before it can be held.

The body is the application's (api/limits.py caps its size); live streams are not affected.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.error_codes import ErrorCode

log = logging.getLogger("api.connections")

#: At most one warning per this many seconds for refused or timed-out connections.
_LOG_EVERY_S = 10.0


def _response(status: str, code: str, message: str, extra: str = "") -> bytes:
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n{extra}\r\n"
    )
    return head.encode() + body


TIMED_OUT = _response(
    "408 Request Timeout", ErrorCode.REQUEST_TIMEOUT, "the request head did not arrive in time"
)
TOO_MANY = _response(
    "503 Service Unavailable",
    ErrorCode.TOO_MANY_CONNECTIONS,
    "the server holds as many connections as it may: retry",
    "retry-after: 1\r\n",
)


class _Tally:
    """Counts what was refused, logging a summary at most every `_LOG_EVERY_S`."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.count = 0
        self._logged_at = 0.0
        self._unlogged = 0

    def add(self) -> None:
        self.count += 1
        self._unlogged += 1
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY_S:
            log.warning("%d %s (%d in all)", self._unlogged, self.what, self.count)
            self._logged_at, self._unlogged = now, 0


class BoundedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the head deadline and the connection cap.

    The limits are class attributes, set on the subclass `bounded_protocol()` makes.
    """

    header_timeout_s: ClassVar[float]
    max_connections: ClassVar[int]
    refused: ClassVar[_Tally]
    timed_out: ClassVar[_Tally]
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self.refused.add()
            transport.write(TOO_MANY)
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._arm()  # the first byte of a request on a kept-alive connection
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # Still answering a request (the late head is the next, pipelined one): the
            # client is not the slow side; look again later.
            self._arm()
            return
        self.timed_out.add()
        self.transport.write(TIMED_OUT)
        self.transport.close()


def bounded_protocol(header_timeout_s: float, max_connections: int) -> type[asyncio.Protocol]:
    """`BoundedProtocol` with these limits (and its own tallies of what they refused)."""
    limits = {
        "header_timeout_s": header_timeout_s,
        "max_connections": max_connections,
        "refused": _Tally(f"connections refused: over the cap of {max_connections}"),
        "timed_out": _Tally(f"connections closed: no request head within {header_timeout_s} s"),
    }
    return type("Bounded", (BoundedProtocol,), limits)


#: Descriptors kept for everything but client connections: database pools, the broker,
#: the live stream's listener, files, and the connections refused (open for a moment).
RESERVED_DESCRIPTORS = 256


def fit_descriptors(max_connections: int) -> int:
    """Raise this process's descriptor limit to what `max_connections` needs if it may; return
    the cap that fits (lower, with a warning, when the hard limit is too low)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + RESERVED_DESCRIPTORS
    if soft >= needed or soft == resource.RLIM_INFINITY:
        return max_connections
    raised = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
    resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    if raised >= needed:
        return max_connections
    fitted = max(1, raised - RESERVED_DESCRIPTORS)
    log.warning(
        "TICKWIRE_HTTP_MAX_CONNECTIONS=%d needs %d descriptors; the limit is %d: capping at %d",
        max_connections,
        needed,
        raised,
        fitted,
    )
    return fitted
