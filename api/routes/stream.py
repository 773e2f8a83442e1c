"""`GET /api/stream`: the live stream of committed events, as server-sent events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request

from api.deps import PoolDep
from api.error_codes import ErrorCode
from api.errors import Invalid
from api.stream import filters
from api.stream.auth import StreamUser
from api.stream.hub import Hub
from api.stream.response import StreamResponse
from api.stream.subscriber import Subscriber
from tickwire.events import STREAM_KINDS

router = APIRouter()
MAX_ID = 2**63 - 1

_DESCRIPTION = """\
Events `price`, `telemetry`, `device_status` and `alert`, each sent once committed, with an
increasing `id` (`id: N`, `event: kind`, `data: JSON`). Without `tickers`, `devices` and
`portfolios`: everything the caller may read. `portfolios=` adds `portfolio` events
(`{"portfolio_id", "time", "market_value", "unrealized_pnl", "day_change"}`, the holdings
route's totals) when a held ticker moves or a transaction changes, at most one per portfolio
per second, without an `id` and not replayed: every stream starts with the current ones.
Reconnecting with `Last-Event-ID` (EventSource sends it itself; or `last_event_id=`)
replays exactly the missed events while the server still keeps them, else sends `reset`
(`{"reason": "pruned"|"unknown", "last_id": N}`): reload history, live events follow. A
frame with only an `id` (at the start, and with the `: keep-alive` comment of an idle stream)
moves the resume point without an event. A client too slow to keep up is sent
`event: dropped` (`{"reason": …}`) and disconnected: it reconnects and resumes. Bearer token
or the `tickwire_auth` cookie. See docs/stream.md.
"""

Subjects = Annotated[
    list[str] | None,
    Query(description="comma-separated and/or repeated; each must be readable (else 404)"),
]


@dataclass
class Filter:
    """The subjects a client asks for (none: everything it may read, no portfolio)."""

    tickers: Subjects = None
    devices: Subjects = None
    portfolios: Annotated[
        list[str] | None,
        Query(
            description="portfolio ids (comma-separated and/or repeated), each the caller's "
            "(else 404): `portfolio` events of their totals"
        ),
    ] = None


@dataclass
class Resume:
    """Where a reconnecting client resumes: the `Last-Event-ID` header or `last_event_id=`."""

    last_event_id: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="for clients that cannot send the header")
    ] = None
    last_event_id_header: Annotated[
        str | None, Header(alias="Last-Event-ID", description="the last id received")
    ] = None

    def last_id(self) -> int | None:
        """The header wins (EventSource sends the newest one on reconnect)."""
        header = self.last_event_id_header
        if header is None or not header.strip():
            return self.last_event_id
        text = header.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > MAX_ID:
            raise Invalid("Last-Event-ID must be an event id", code=ErrorCode.INVALID_LAST_EVENT_ID)
        return int(text)


@router.get(
    "/stream",
    summary="Live events (server-sent events)",
    description=_DESCRIPTION,
    response_class=StreamResponse,
    status_code=200,  # StreamResponse's __init__ has no status_code default to infer it from
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream(
    request: Request,
    login: StreamUser,
    pool: PoolDep,
    resume: Annotated[Resume, Depends()],
    subjects: Annotated[Filter, Depends()],
    kinds: Annotated[
        list[str] | None,
        Query(description="only these event kinds (comma-separated): " + ", ".join(STREAM_KINDS)),
    ] = None,
) -> StreamResponse:
    hub: Hub = request.state.hub
    user = login.user
    settings = hub.settings
    chosen, watched = await filters.selection(
        pool,
        user,
        filters.split(subjects.devices),
        filters.split(subjects.tickers),
        settings.stream_max_subjects,
        filters.split(subjects.portfolios),
    )
    sub = Subscriber(
        user.id,
        user.is_superuser,
        chosen,
        settings.stream_buffer_bytes,
        _kinds(kinds),
        login=(login.claims.jti, login.claims.issued),
        portfolios=watched,
    )
    return StreamResponse(hub, pool, sub, resume.last_id())


def _kinds(values: list[str] | None) -> frozenset[str] | None:
    """The `kinds=` filter: None (every kind) when absent or empty; 422 for an unknown kind."""
    chosen = frozenset(filters.split(values))
    unknown = sorted(chosen - set(STREAM_KINDS))
    if unknown:
        raise Invalid(
            f"unknown event kind(s) {', '.join(unknown)[:100]}; one of {', '.join(STREAM_KINDS)}",
            code=ErrorCode.INVALID_KIND,
        )
    return chosen or None
