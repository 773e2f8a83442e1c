"""When each device goes OFFLINE: its last receive time + its timeout, kept in a heap so the
engine can sleep until exactly the earliest deadline. Pure (times are epoch seconds).

A device's deadline has stages: at offset 0 the device goes OFFLINE; an OFFLINE rule with a
`duration_s` raises its alert that much later. Any message moves every stage: entries of an
older generation are skipped when they come up. A message to an online device whose stage 0
is in the heap only moves `last_seen` (its deadline can only move later): that entry is pushed
again at the device's deadline when it comes up, so a big fleet costs one heap entry per
device, not one per device per batch (which also left the heap holding a timeout's worth of
stale entries).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Device:
    timeout_s: float
    last_seen: float | None
    offline: bool
    generation: int = 0
    not_before: float = 0.0
    armed: bool = False
    """This generation's stage 0 is in the heap (at or before the device's deadline)."""


@dataclass(frozen=True, slots=True)
class Due:
    """A stage that came due: `basis` is the last receive time it was computed from."""

    device_id: str
    basis: float
    offset: float


@dataclass(slots=True)
class Liveness:
    _devices: dict[str, _Device] = field(default_factory=dict)
    _heap: list[tuple[float, int, str, int, float]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def watch(
        self,
        device_id: str,
        last_seen: float | None,
        timeout_s: float,
        offline: bool,
        not_before: float = 0.0,
    ) -> None:
        """Track a device (again); `not_before` delays its first deadline (engine start)."""
        known = self._devices.get(device_id)
        if known is not None:
            if known.timeout_s != timeout_s:
                known.timeout_s = timeout_s
                if not known.offline:
                    self._arm(device_id, known, (0.0,))
            return
        device = _Device(timeout_s, last_seen, offline, not_before=not_before)
        self._devices[device_id] = device
        if not offline:
            self._arm(device_id, device, (0.0,))

    def forget(self, device_id: str) -> None:
        self._devices.pop(device_id, None)

    def keep(self, device_ids: Collection[str]) -> None:
        """Forget every device not in `device_ids` (deleted ones)."""
        for device_id in [d for d in self._devices if d not in device_ids]:
            del self._devices[device_id]

    def known(self, device_id: str) -> bool:
        return device_id in self._devices

    def seen(self, device_id: str, at: float) -> None:
        """A message committed: the device is online and its deadline moves."""
        self.seen_all(((device_id, at),))

    def seen_all(self, seen: Iterable[tuple[str, float]]) -> None:
        """`seen` for each (device, receive time) of a committed batch."""
        devices = self._devices
        for device_id, at in seen:
            device = devices.get(device_id)
            if device is None:
                continue
            if device.last_seen is None or at > device.last_seen:
                device.last_seen = at
            if device.offline or not device.armed:
                device.offline = False
                self._arm(device_id, device, (0.0,))

    def grace(self, now: float) -> None:
        """No online device goes OFFLINE before `now` + its timeout (the ingester was deaf)."""
        for device_id, device in self._devices.items():
            device.not_before = max(device.not_before, now + device.timeout_s)
            if not device.offline:
                self._arm(device_id, device, (0.0,))

    def went_offline(self, device_id: str, later: tuple[float, ...] = ()) -> None:
        """The device is OFFLINE now; stages at `later` offsets (> 0) are still to come."""
        device = self._devices.get(device_id)
        if device is not None:
            device.offline = True
            device.armed = False
            self._push(device_id, device, later)

    def next_due(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def due(self, now: float) -> list[Due]:
        """Pop every current stage whose time has come."""
        out: list[Due] = []
        while self._drop_stale() and self._heap[0][0] <= now:
            entry = heapq.heappop(self._heap)
            device = self._current(entry)
            if device is not None and device.last_seen is not None:
                if entry[4] == 0:
                    device.armed = False
                out.append(Due(entry[2], device.last_seen, entry[4]))
        return out

    def _current(self, entry: tuple[float, int, str, int, float]) -> _Device | None:
        """The entry's device if the entry still stands: same generation, and stage 0 only
        while the device is online, later stages only while it is offline."""
        _, _, device_id, generation, offset = entry
        device = self._devices.get(device_id)
        if device is None or device.generation != generation:
            return None
        return device if (offset == 0) != device.offline else None

    def _arm(self, device_id: str, device: _Device, offsets: tuple[float, ...]) -> None:
        device.generation += 1
        device.armed = False
        self._push(device_id, device, offsets)

    def _push(self, device_id: str, device: _Device, offsets: tuple[float, ...]) -> None:
        if device.last_seen is None:  # never heard from: it cannot go offline
            return
        base = max(device.last_seen + device.timeout_s, device.not_before)
        for offset in offsets:
            entry = (base + offset, next(self._order), device_id, device.generation, offset)
            heapq.heappush(self._heap, entry)
            if offset == 0:
                device.armed = True

    def _drop_stale(self) -> bool:
        """Pop the entries that no longer stand, and push again a stage 0 whose device was
        heard from since (its deadline moved); whether an entry is left on top."""
        heap = self._heap
        while heap:
            entry = heap[0]
            device = self._current(entry)
            if device is None:
                heapq.heappop(heap)
            elif entry[4] == 0 and entry[0] < _deadline(device):
                heapq.heappop(heap)
                self._push(entry[2], device, (0.0,))
            else:
                return True
        return False


def _deadline(device: _Device) -> float:
    assert device.last_seen is not None
    return max(device.last_seen + device.timeout_s, device.not_before)
