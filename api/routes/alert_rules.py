"""/api/alert-rules: the conditions that raise alerts, owned by the user who wrote them."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.access import rules_visible
from api.alert_clearing import clear_open_alerts, stream
from api.crud.listing import fetch_page
from api.crud.readable import require_device, require_tickers
from api.crud.writes import commit
from api.deps import CurrentUser, Limit, Offset, SessionDep
from api.error_codes import ErrorCode
from api.errors import NotFound
from api.models import AlertRule, User
from api.pagination import Page
from api.schemas.alert_rules import (
    KIND_DOC,
    RULE_FIELDS,
    AlertRuleCreate,
    AlertRuleRead,
    AlertRuleUpdate,
    RuleKind,
    check_rule,
)
from api.schemas.common import DeviceId, Ticker

router = APIRouter()

RuleId = Annotated[int, Path(alias="id", ge=1, le=2**63 - 1, description="the rule's id")]


@dataclass
class RuleQuery:
    """The filters of `GET /alert-rules`, as query parameters."""

    kind: Annotated[RuleKind | None, Query(description="only this kind")] = None
    device_id: Annotated[DeviceId | None, Query(description="only rules on this device")] = None
    ticker: Annotated[Ticker | None, Query(description="only rules on this ticker")] = None
    enabled: Annotated[bool | None, Query(description="only enabled (or disabled) ones")] = None

    def statement(self, user: User) -> Select[tuple[AlertRule]]:
        """The rules `user` may see that match these filters, ordered by id."""
        query = select(AlertRule).where(rules_visible(user)).order_by(AlertRule.id)
        for column, value in (
            (AlertRule.kind, self.kind),
            (AlertRule.device_id, self.device_id),
            (AlertRule.ticker, self.ticker),
            (AlertRule.enabled, self.enabled),
        ):
            if value is not None:
                query = query.where(column == value)
        return query


@router.get(
    "/alert-rules",
    response_model=Page[AlertRuleRead],
    summary="List alert rules",
    description="The caller's rules (an admin: all), ordered by id.",
)
async def list_rules(
    session: SessionDep,
    user: CurrentUser,
    query: Annotated[RuleQuery, Depends()],
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[AlertRuleRead]:
    rows, total = await fetch_page(session, query.statement(user), limit, offset)
    items = [AlertRuleRead.model_validate(row) for row in rows]
    return Page[AlertRuleRead](items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/alert-rules",
    response_model=AlertRuleRead,
    status_code=201,
    summary="Create an alert rule",
    description="Owner = the caller.\n\n" + KIND_DOC,
)
async def create_rule(
    body: AlertRuleCreate, session: SessionDep, user: CurrentUser
) -> AlertRuleRead:
    fields = check_rule(body.model_dump())
    await _require_subject(session, user, fields)
    rule = AlertRule(owner_id=user.id, **fields)
    session.add(rule)
    await commit(session)
    return await _read(session, rule)


@router.get(
    "/alert-rules/{id}",
    response_model=AlertRuleRead,
    summary="One alert rule",
    description="404 `alert_rule_not_found` when absent or not the caller's.",
)
async def get_rule(rule_id: RuleId, session: SessionDep, user: CurrentUser) -> AlertRuleRead:
    return AlertRuleRead.model_validate(await _rule_or_404(session, user, rule_id))


@router.patch(
    "/alert-rules/{id}",
    response_model=AlertRuleRead,
    summary="Change an alert rule",
    description="Only the fields sent change; the result must be a valid rule.\n\n" + KIND_DOC,
)
async def update_rule(
    rule_id: RuleId, body: AlertRuleUpdate, session: SessionDep, user: CurrentUser
) -> AlertRuleRead:
    rule = await _rule_or_404(session, user, rule_id)
    changes = body.changes()
    current = {name: getattr(rule, name) for name in RULE_FIELDS}
    fields = check_rule(current | changes)
    # A subject kept as it was stays valid even if its owner changed since.
    await _require_subject(session, user, fields, only=changes.keys())
    for name, value in fields.items():
        setattr(rule, name, value)
    await commit(session)
    return await _read(session, rule)


@router.delete(
    "/alert-rules/{id}",
    status_code=204,
    response_class=Response,
    summary="Delete an alert rule",
    description="Its open alerts are cleared; its past alerts stay (their rule becomes null).",
)
async def delete_rule(rule_id: RuleId, session: SessionDep, user: CurrentUser) -> Response:
    rule = await _rule_or_404(session, user, rule_id)
    cleared = await clear_open_alerts(session, "rule_id", rule_id, "its rule was deleted")
    await session.delete(rule)
    await session.flush()
    await stream(session, cleared)
    await commit(session)
    return Response(status_code=204)


async def _rule_or_404(session: AsyncSession, user: User, rule_id: int) -> AlertRule:
    query = select(AlertRule).where(AlertRule.id == rule_id, rules_visible(user))
    rule = await session.scalar(query)
    if rule is None:
        raise NotFound(f"no alert rule {rule_id}", code=ErrorCode.ALERT_RULE_NOT_FOUND)
    return rule


async def _require_subject(
    session: AsyncSession, user: User, fields: dict[str, Any], only: Container[str] | None = None
) -> None:
    """422 unless the rule's device and ticker (those in `only`, if given) are readable."""
    device_id, ticker = fields["device_id"], fields["ticker"]
    if device_id is not None and (only is None or "device_id" in only):
        await require_device(session, user, device_id)
    if ticker is not None and (only is None or "ticker" in only):
        await require_tickers(session, user, [ticker])


async def _read(session: AsyncSession, rule: AlertRule) -> AlertRuleRead:
    """The rule as stored (server defaults and updated_at reloaded)."""
    await session.refresh(rule)
    return AlertRuleRead.model_validate(rule)
