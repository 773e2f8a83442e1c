"""Who receives an event: subscribers indexed by what they asked for and by user.

The rule, the same live and in a backlog (`delivers`): a subscriber receives an event when its
filter (or, without one, everything) selects the subject, it may read the subject when the
event is handed out (`api.access.may_read`; admins read everything, even a subject deleted
since), and the event is addressed to it (`api.access.addressed_to`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Final, TypeVar

import orjson

from api import access
from api.stream.subscriber import DEVICE, TICKER, Key, Subscriber

ABSENT: Final = uuid.UUID(int=0)
"""The owner of a subject that does not exist (readable by admins only)."""
Owner = uuid.UUID | None
"""A device's or stock's owner: a user, None (a stock: shared; a device: nobody), or ABSENT."""
K = TypeVar("K")


def event_key(kind: str, subject: str, data: str) -> Key:
    """What an event is about; an alert names its device or its ticker in its data."""
    if kind == "price":
        return (TICKER, subject)
    if kind == "alert" and orjson.loads(data).get("device_id") is None:
        return (TICKER, subject)
    return (DEVICE, subject)


class Routes:
    """Subscribers by key (those with a filter), by user (non-admins without one), and admins
    without one: an index of `access.may_read` (a shared stock reaches every user, an owned
    subject its owner), which tests/test_access.py checks against `delivers`. Owners are
    looked up by the caller, for each page of events, after reading it: an event committed
    after a change of ownership is judged by the new owner."""

    def __init__(self) -> None:
        self._by_key: dict[Key, set[Subscriber]] = {}
        self._by_user: dict[uuid.UUID, set[Subscriber]] = {}
        self._everything: set[Subscriber] = set()

    def add(self, sub: Subscriber) -> None:
        if sub.selection is not None:
            for key in sub.selection.as_keys():
                self._by_key.setdefault(key, set()).add(sub)
        elif sub.is_admin:
            self._everything.add(sub)
        else:
            self._by_user.setdefault(sub.user_id, set()).add(sub)

    def remove(self, sub: Subscriber) -> None:
        if sub.selection is not None:
            for key in sub.selection.as_keys():
                _discard(self._by_key, key, sub)
        elif sub.is_admin:
            self._everything.discard(sub)
        else:
            _discard(self._by_user, sub.user_id, sub)

    def targets(self, key: Key, owner: Owner, audience: uuid.UUID | None) -> Iterator[Subscriber]:
        """Every subscriber `delivers` accepts, found through the indexes, each once."""
        for sub in self._by_key.get(key, ()):
            if _reads(sub, key, owner) and _audience(sub, audience):
                yield sub
        yield from self._everything
        if owner is None and key[0] == TICKER:
            for subs in self._by_user.values():
                for sub in subs:
                    if _audience(sub, audience):
                        yield sub
        elif owner is not None and owner != ABSENT:
            for sub in self._by_user.get(owner, ()):
                if _audience(sub, audience):
                    yield sub


def delivers(sub: Subscriber, key: Key, owner: Owner, audience: uuid.UUID | None) -> bool:
    """The rule itself (see the module's docstring), for one subscriber and event."""
    if sub.selection is not None and key not in sub.selection:
        return False
    return _reads(sub, key, owner) and _audience(sub, audience)


def owner_of(owners: Mapping[Key, uuid.UUID | None], key: Key) -> Owner:
    return owners.get(key, ABSENT)


def _reads(sub: Subscriber, key: Key, owner: Owner) -> bool:
    """`access.may_read`; ABSENT (no such subject) is no user's, so only admins read it."""
    kind = access.STOCK if key[0] == TICKER else access.DEVICE
    return access.may_read(sub.user_id, sub.is_admin, kind, owner)


def _audience(sub: Subscriber, audience: uuid.UUID | None) -> bool:
    return access.addressed_to(sub.user_id, sub.is_admin, audience)


def _discard(index: dict[K, set[Subscriber]], key: K, sub: Subscriber) -> None:
    subs = index.get(key)
    if subs is not None:
        subs.discard(sub)
        if not subs:
            del index[key]
