"""Who may publish and subscribe where on the broker: the accounts, roles and ACLs that
tickwire/brokerauth/ writes through Mosquitto's dynamic-security plugin (docs/broker.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tickwire.contract import (
    acks_topic,
    commands_topic,
    device_stock_topic,
    heartbeat_topic,
    telemetry_topic,
)

INGEST_ACCOUNT = "tickwire-ingest"
API_ACCOUNT = "tickwire-api"
DEVICE_ROLE_PREFIX = "device:"

Acl = dict[str, Any]

_LEGACY_PRICE_PREFIX = "stocks/"


def _allow(acltype: str, topics: Iterable[str]) -> list[Acl]:
    return [{"acltype": acltype, "topic": topic, "allow": True} for topic in topics]


def device_acls(device_id: str, tickers: Iterable[str]) -> list[Acl]:
    """Publish its own telemetry/heartbeat/acks and its tickers' prices on its own price
    topics (never the shared stocks/{T}, where it could name another device); read its
    commands."""
    own = [telemetry_topic(device_id), heartbeat_topic(device_id), acks_topic(device_id)]
    prices = [device_stock_topic(device_id, ticker) for ticker in sorted(set(tickers))]
    return _allow("publishClientSend", own + prices) + _allow(
        "subscribeLiteral", [commands_topic(device_id)]
    )


_INGEST_TOPICS = [
    "stocks/#",
    "devices/+/stocks/+",
    "devices/+/telemetry",
    "devices/+/heartbeat",
    "devices/+/acks",
]
#: The ingest topics, directly or through a shared subscription (`TICKWIRE_INGEST_SHARE`):
#: Mosquitto 2.0 checks a `$share/<group>/…` filter as written, prefix included.
INGEST_ACLS = _allow(
    "subscribePattern", _INGEST_TOPICS + [f"$share/+/{topic}" for topic in _INGEST_TOPICS]
)
API_ACLS = _allow("publishClientSend", ["devices/+/commands"])
#: Publish and subscribe are denied unless a role allows them (the plugin's own defaults too).
DEFAULT_ACL_ACCESS = [
    {"acltype": "publishClientSend", "allow": False},
    {"acltype": "publishClientReceive", "allow": True},
    {"acltype": "subscribe", "allow": False},
    {"acltype": "unsubscribe", "allow": True},
]


def device_role(device_id: str) -> str:
    return f"{DEVICE_ROLE_PREFIX}{device_id}"


def legacy_tickers(acls: list[Acl]) -> list[str] | None:
    """The tickers a role may publish on stocks/{T}; None when it has no such ACL."""
    tickers = [
        str(acl["topic"])[len(_LEGACY_PRICE_PREFIX) :]
        for acl in acls
        if acl.get("acltype") == "publishClientSend"
        and str(acl.get("topic", "")).startswith(_LEGACY_PRICE_PREFIX)
    ]
    return tickers or None


# --- The same ACLs as EMQX 5 rules (its built-in database authorizer, compose profile `scale`)

#: dynamic-security ACL type → EMQX rule action and how its topic is written: a literal
#: subscription must match exactly (`eq …`); a pattern also admits narrower filters, as EMQX
#: matches a subscription's filter against the rule's.
_EMQX_ACTIONS = {
    "publishClientSend": ("publish", ""),
    "subscribeLiteral": ("subscribe", "eq "),
    "subscribePattern": ("subscribe", ""),
}
_SHARED_PREFIX = "$share/+/"

EmqxRule = dict[str, str]


def emqx_rules(acls: list[Acl]) -> list[EmqxRule]:
    """The EMQX authorization rules that allow exactly what these ACLs allow. A
    `$share/+/<filter>` pattern has no rule of its own: EMQX checks a shared subscription
    as its <filter>, which the plain pattern beside it already allows."""
    rules: list[EmqxRule] = []
    for acl in acls:
        topic, kind = str(acl["topic"]), str(acl["acltype"])
        if kind not in _EMQX_ACTIONS or acl.get("allow") is not True:
            raise ValueError(f"no EMQX rule for {acl!r}")
        if kind == "subscribePattern" and topic.startswith(_SHARED_PREFIX):
            if {"acltype": kind, "topic": topic[len(_SHARED_PREFIX) :], "allow": True} in acls:
                continue
            raise ValueError(f"{topic!r} is allowed only through a share group")
        action, prefix = _EMQX_ACTIONS[kind]
        rules.append({"permission": "allow", "action": action, "topic": prefix + topic})
    return rules
