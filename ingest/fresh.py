"""Which devices need the devices statement (`ingest.writer._SEEN_SQL`) at all: the writers'
memory of the device rows they wrote ONLINE, and until when that row stays fresh enough.

The statement writes a device heard from when it is not ONLINE, or when its `last_seen` is
older than the batch's receive time by more than the bounded rate (`seen_interval_s`, at
most a quarter of its offline timeout; every message when the timeout is short). For each row
it writes it returns that bound (`fresh_until`), and a device heard from before then is left
out of the statement's arrays: a fleet of ONLINE devices costs neither rows written nor
entries sent per batch. What others change is heard through `tickwire_config` (migration
0013, on every writer's connection): a device whose status was set to anything but ONLINE
(the alert engine's OFFLINE), whose `last_seen` moved back, whose timeout, owner or kind
changed, or that was deleted, is forgotten and goes through the statement with its next
message. One memory is shared by a process's writers (each one's commits count for all);
it is emptied when a writer reconnects (notifications may have been missed meanwhile).

The engine's OFFLINE cannot fall between a write and its `fresh_until` unnoticed: the
statement's own bound is what makes a message skipped here safe (see `_SEEN_SQL`), and the
OFFLINE itself notifies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class FreshDevices:
    def __init__(self) -> None:
        self._until: dict[str, datetime] = {}

    def due(self, seen: dict[str, datetime]) -> dict[str, datetime]:
        """The devices of `seen` (device → newest receive time) the statement must see."""
        until = self._until
        if not until:
            return seen
        return {d: at for d, at in seen.items() if (u := until.get(d)) is None or at > u}

    def written(self, device_id: str, fresh_until: datetime | None) -> None:
        """A committed write of the device's row (ONLINE); None: its every message counts."""
        if fresh_until is None:
            self._until.pop(device_id, None)
        else:
            self._until[device_id] = fresh_until

    def clear(self) -> None:
        self._until.clear()

    def notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        """A `tickwire_config` notification: forget the device it names (`devices:<op>:<id>`),
        or everything for a bare 'devices' (TRUNCATE); other tables change no device row."""
        named = payload.split(":", 2)
        if len(named) == 3 and named[0] == "devices":
            self._until.pop(named[2], None)
        elif payload == "devices":
            self._until.clear()

    def __len__(self) -> int:
        return len(self._until)
