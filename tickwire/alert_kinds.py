"""The kinds of alert, defined once: the ingester raises them, the API checks rules and filters
against them, the dashboard offers them, and the database refuses any other (CHECK constraints
of schema revision 0005, `sql/0005_alert_kinds.sql`).

Members are strings (`AlertKind.OFFLINE == "OFFLINE"`), so rows and JSON carry them as they are.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class AlertKind(StrEnum):
    """What an alert watches. Device kinds have a device as subject; the others, a ticker."""

    HIGH_TEMP = "HIGH_TEMP"
    """A metric (default temperature) above a level; built in for every device at 30 °C."""
    THRESHOLD = "THRESHOLD"
    """A device's metric compared with a level by a rule's operator."""
    OFFLINE = "OFFLINE"
    """No message from a device for its timeout; built in for every device."""
    ONLINE = "ONLINE"
    """A device heard from again after OFFLINE; built in only (no rule has this kind)."""
    PRICE_MOVE = "PRICE_MOVE"
    """A ticker's price moved by a percentage within a window."""
    PRICE_ABOVE = "PRICE_ABOVE"
    """A ticker's price at or above a level (a rule, or a watchlist level)."""
    PRICE_BELOW = "PRICE_BELOW"
    """A ticker's price at or below a level (a rule, or a watchlist level)."""


DEVICE_KINDS: Final = frozenset(
    {AlertKind.HIGH_TEMP, AlertKind.THRESHOLD, AlertKind.OFFLINE, AlertKind.ONLINE}
)
"""Kinds whose subject is a device (the others' is a ticker)."""
RULE_KINDS: Final[tuple[AlertKind, ...]] = tuple(
    kind for kind in AlertKind if kind is not AlertKind.ONLINE
)
"""Kinds a rule may have, in the enum's order."""
NAMES: Final = tuple(kind.value for kind in AlertKind)
"""Every kind as a plain string, in the enum's order (the API's Literal, the dashboard's menus)."""
RULE_NAMES: Final = tuple(kind.value for kind in RULE_KINDS)
