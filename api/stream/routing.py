"""Who receives an event: subscribers indexed by what they asked for and by user.

The rule, the same live and in a backlog (`delivers`): an admin receives every event its
filter selects; a user receives an event when its filter (or, without one, everything) selects
the subject, the user may read the subject when the event is handed out (device: owner = user;
stock: no owner or owner = user), and the event has no audience or the user is its audience.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Final, TypeVar

import orjson

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
    without one. Owners are looked up by the caller, for each page of events, after reading
    it: an event committed after a change of ownership is judged by the new owner."""

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
            if sub.is_admin or (_reads(sub, key, owner) and _audience(sub, audience)):
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
    return sub.is_admin or (_reads(sub, key, owner) and _audience(sub, audience))


def owner_of(owners: Mapping[Key, uuid.UUID | None], key: Key) -> Owner:
    return owners.get(key, ABSENT)


def _reads(sub: Subscriber, key: Key, owner: Owner) -> bool:
    if owner == ABSENT:
        return False
    return owner == sub.user_id or (owner is None and key[0] == TICKER)


def _audience(sub: Subscriber, audience: uuid.UUID | None) -> bool:
    return audience is None or sub.is_admin or audience == sub.user_id


def _discard(index: dict[K, set[Subscriber]], key: K, sub: Subscriber) -> None:
    subs = index.get(key)
    if subs is not None:
        subs.discard(sub)
        if not subs:
            del index[key]
