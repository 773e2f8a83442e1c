"""/api/notification-channels: where a user's alert changes go (webhook or email), and what
was sent there.

A channel belongs to the user who made it (an admin reads and changes all, like portfolios);
another user's is 404 `notification_channel_not_found`, as an absent one. Its secret is never
returned. Delivery is `notify/`'s work (see sql/0010_notifications.sql).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final

import asyncpg
import orjson
from fastapi import APIRouter, Path, Request, Response

from api.access import owner_filter
from api.deps import CurrentUser, Limit, Offset, PoolDep
from api.error_codes import ErrorCode
from api.errors import Invalid, NotFound
from api.models import User
from api.pagination import Page
from api.schemas.notifications import (
    ChannelFilter,
    ChannelPatch,
    ChannelRead,
    ChannelWrite,
    DeliveryRead,
    EmailWrite,
    TestSent,
    WebhookWrite,
)
from api.settings import ApiSettings
from tickwire.notifications import RefusedUrl, parse_webhook_url

router = APIRouter()
Id = Annotated[int, Path(alias="id", ge=1, le=2**63 - 1, description="the channel's id")]
_OWNED: Final = "($2::uuid IS NULL OR owner_id = $2)"
_FIELDS: Final = {"name": "name", "url": "url", "secret": "secret", "to": "email_to"}


def _checked_url(request: Request, url: str) -> str:
    settings: ApiSettings = request.state.settings
    try:
        parse_webhook_url(url, settings.webhook_allow_private)
    except RefusedUrl as exc:
        raise Invalid(f"webhook url refused: {exc}", code=ErrorCode.INVALID_WEBHOOK_URL) from None
    return url


def _require_smtp(request: Request) -> None:
    settings: ApiSettings = request.state.settings
    if not settings.smtp_url:
        raise Invalid(
            "email is not configured (TICKWIRE_SMTP_URL)", code=ErrorCode.EMAIL_NOT_CONFIGURED
        )


def _filter_values(f: ChannelFilter) -> list[Any]:
    """kinds, min_severity, events as stored: an empty list is null (everything)."""
    return [f.kinds or None, f.min_severity, f.events or None]


async def _channel(
    conn: asyncpg.Connection, user: User, channel_id: int, lock: bool = False
) -> Any:
    row = await conn.fetchrow(
        f"SELECT * FROM notification_channels WHERE id = $1 AND {_OWNED}"
        + (" FOR UPDATE" if lock else ""),
        channel_id,
        owner_filter(user),
    )
    if row is None:
        raise NotFound(f"no channel {channel_id}", code=ErrorCode.NOTIFICATION_CHANNEL_NOT_FOUND)
    return row


@router.get(
    "/notification-channels",
    response_model=Page[ChannelRead],
    summary="The caller's notification channels",
    description="By id; an admin sees everyone's. Secrets are never shown.",
)
async def list_channels(
    user: CurrentUser, pool: PoolDep, limit: Limit = 100, offset: Offset = 0
) -> Page[ChannelRead]:
    where = "WHERE ($1::uuid IS NULL OR owner_id = $1)"
    owner = owner_filter(user)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT * FROM notification_channels {where} ORDER BY id LIMIT $2 OFFSET $3",
            owner,
            limit,
            offset,
        )
        total = await conn.fetchval(f"SELECT count(*) FROM notification_channels {where}", owner)
    items = [ChannelRead.of(row) for row in rows]
    return Page[ChannelRead](items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/notification-channels",
    status_code=201,
    response_model=ChannelRead,
    summary="Add a notification channel",
    description='`{"name","kind":"webhook","url","secret","filter"}` or `{"name","kind":'
    '"email","to","filter"}`; `filter` = `{"kinds","min_severity","events"}`, an omitted or '
    "empty part matches everything. A URL that is not http(s), carries credentials, or points "
    "at a loopback/private/link-local address (unless `TICKWIRE_WEBHOOK_ALLOW_PRIVATE`) is "
    "422 `invalid_webhook_url`; email without `TICKWIRE_SMTP_URL` is 422 "
    "`email_not_configured`. The channel gets the changes of alerts its owner may see.",
)
async def create_channel(
    body: ChannelWrite, request: Request, user: CurrentUser, pool: PoolDep
) -> ChannelRead:
    url = secret = to = None
    if isinstance(body, WebhookWrite):
        url, secret = _checked_url(request, body.url), body.secret
    elif isinstance(body, EmailWrite):
        _require_smtp(request)
        to = body.to
    row = await pool.fetchrow(
        """INSERT INTO notification_channels
               (owner_id, name, kind, url, secret, email_to, kinds, min_severity, events)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *""",
        user.id,
        body.name,
        body.kind,
        url,
        secret,
        to,
        *_filter_values(body.filter),
    )
    return ChannelRead.of(row)


@router.get(
    "/notification-channels/{id}",
    response_model=ChannelRead,
    summary="A notification channel",
    description="404 `notification_channel_not_found` for another user's.",
)
async def get_channel(channel_id: Id, user: CurrentUser, pool: PoolDep) -> ChannelRead:
    async with pool.acquire() as conn:
        return ChannelRead.of(await _channel(conn, user, channel_id))


@router.patch(
    "/notification-channels/{id}",
    response_model=ChannelRead,
    summary="Change a notification channel",
    description="Any of `name`, `url`, `secret` (webhooks), `to` (email), `filter` (replaced "
    "whole); a field of the other kind is 422 `invalid_channel`. Deliveries already made "
    "keep their body; pending ones go to the new address.",
)
async def patch_channel(
    channel_id: Id, body: ChannelPatch, request: Request, user: CurrentUser, pool: PoolDep
) -> ChannelRead:
    changes = body.changes()
    async with pool.acquire() as conn, conn.transaction():
        row = await _channel(conn, user, channel_id, lock=True)
        wrong = {"webhook": {"to"}, "email": {"url", "secret"}}[row["kind"]] & changes.keys()
        if wrong:
            message = f"a {row['kind']} channel has no {', '.join(sorted(wrong))}"
            raise Invalid(message, code=ErrorCode.INVALID_CHANNEL)
        if "url" in changes:
            _checked_url(request, changes["url"])
        sets = [f"{_FIELDS[name]} = ${i}" for i, name in enumerate(changes.keys() - {"filter"}, 2)]
        args = [changes[name] for name in changes.keys() - {"filter"}]
        if "filter" in changes:
            n = len(args) + 2
            sets.append(f"kinds = ${n}, min_severity = ${n + 1}, events = ${n + 2}")
            args += _filter_values(changes["filter"])
        if sets:
            row = await conn.fetchrow(
                f"UPDATE notification_channels SET {', '.join(sets)}, updated_at = now() "
                "WHERE id = $1 RETURNING *",
                channel_id,
                *args,
            )
    return ChannelRead.of(row)


@router.delete(
    "/notification-channels/{id}",
    status_code=204,
    summary="Delete a notification channel",
    description="With its deliveries (pending ones are not sent).",
)
async def delete_channel(channel_id: Id, user: CurrentUser, pool: PoolDep) -> Response:
    async with pool.acquire() as conn, conn.transaction():
        await _channel(conn, user, channel_id, lock=True)
        await conn.execute("DELETE FROM notification_channels WHERE id = $1", channel_id)
    return Response(status_code=204)


@router.get(
    "/notification-channels/{id}/deliveries",
    response_model=Page[DeliveryRead],
    summary="What was sent to a channel",
    description="Newest first: each change sent (or being retried, or given up: `failed`, "
    "kept) with every attempt and its outcome.",
)
async def list_deliveries(
    channel_id: Id, user: CurrentUser, pool: PoolDep, limit: Limit = 100, offset: Offset = 0
) -> Page[DeliveryRead]:
    async with pool.acquire() as conn:
        await _channel(conn, user, channel_id)
        rows = await conn.fetch(
            """SELECT d.*, coalesce((
                   SELECT json_agg(json_build_object('at', t.at, 'ok', t.ok,
                          'status_code', t.status_code, 'error', t.error) ORDER BY t.at, t.id)
                   FROM notification_attempts t WHERE t.delivery_id = d.id), '[]') AS tried
               FROM notification_deliveries d WHERE d.channel_id = $1
               ORDER BY d.created_at DESC, d.id LIMIT $2 OFFSET $3""",
            channel_id,
            limit,
            offset,
        )
        total = await conn.fetchval(
            "SELECT count(*) FROM notification_deliveries WHERE channel_id = $1", channel_id
        )
    items = [_delivery(row) for row in rows]
    return Page[DeliveryRead](items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/notification-channels/{id}/test",
    status_code=202,
    response_model=TestSent,
    summary="Send a test notification",
    description='Queues `{"event":"test","alert":{…a sample alert, id 0}}` for this channel '
    "alone, delivered (signed, retried) as any change; → its delivery id, to follow in "
    "`/deliveries`.",
)
async def test_channel(channel_id: Id, user: CurrentUser, pool: PoolDep) -> TestSent:
    async with pool.acquire() as conn, conn.transaction():
        await _channel(conn, user, channel_id)
        now = datetime.now(UTC)
        sample = {
            "id": 0,
            "rule_id": None,
            "kind": "THRESHOLD",
            "subject": "test",
            "device_id": "test",
            "ticker": None,
            "owner_id": str(user.id),
            "severity": "info",
            "state": "ACTIVE",
            "message": f"a test notification, sent by {user.email}",
            "value": None,
            "raised_at": now.isoformat(),
            "acked_at": None,
            "acked_by": None,
            "cleared_at": None,
            "updated_at": now.isoformat(),
        }
        delivery_id = await conn.fetchval(
            """INSERT INTO notification_deliveries
                   (id, channel_id, alert_id, event, alert, give_up_at)
               VALUES (gen_random_uuid(), $1, 0, 'test', $2::jsonb, now() + interval '1 hour')
               RETURNING id""",
            channel_id,
            orjson.dumps(sample).decode(),
        )
    return TestSent(delivery_id=delivery_id)


def _delivery(row: Any) -> DeliveryRead:
    fields = dict(row)
    fields["attempts"] = orjson.loads(fields.pop("tried"))
    if fields["status"] != "pending":
        fields["next_at"] = None
    return DeliveryRead.model_validate(fields)
