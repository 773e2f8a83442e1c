"""Store-and-forward for one device: what it produces is buffered, then sent live or flushed.

A data message (telemetry, a price tick) is committed to the buffer first. While the device
is connected and has nothing older waiting, it goes out at once as the contract's single
message; otherwise it waits, and the backlog leaves in seq order: telemetry as batch messages
(`{"deviceId", "readings": [...]}`, up to `batch_max` readings each), price ticks one message
each (the contract has no batch form for stocks). A row leaves the buffer only when the
broker acknowledged (PUBACK) the message that carried it; what a lost connection did not see
acknowledged is sent again, from the buffer, on the next one. At most `window` messages are
unacknowledged at a time: when acknowledgements lag, readings queue and leave as batches.

Heartbeats and command acks are not buffered: sent when connected, else counted as failed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Final

from simulator.buffer import Buffer, Row
from simulator.fleet import Outgoing
from simulator.link import Link
from simulator.stats import Stats
from tickwire.contract import telemetry_topic

log = logging.getLogger("simulator.forward")

_RESERVED_IN_BATCH: Final = ("deviceId", "device_id")


class Forwarder:
    """The device side of a `Link` (its `Handler`); everything runs on the loop's thread."""

    def __init__(
        self,
        device_id: str,
        buffer: Buffer,
        stats: Stats,
        qos: int,
        batch_max: int,
        window: int,
        on_command: Callable[[Forwarder, bytes], None],
    ) -> None:
        self.device_id = device_id
        self.buffer = buffer
        self.stats = stats
        self.qos = qos
        self.batch_max = batch_max
        self.window = window
        self.on_command = on_command
        self.link: Link | None = None
        self._telemetry_topic = telemetry_topic(device_id)
        self._inflight: dict[int, list[int]] = {}
        """mid → the buffered seqs its message carries (empty: a heartbeat or an ack)."""
        self._cursor = 0
        """The highest seq handed to the current connection."""
        self._behind = True
        """The buffer may hold rows above the cursor: send from there, not live."""

    @property
    def caught_up(self) -> bool:
        return not self._behind and not self._inflight

    def publish(self, messages: Sequence[Outgoing]) -> list[bool]:
        """Take messages the device produced; whether each was accepted (data: buffered)."""
        data = [m for m in messages if m.seq is not None]
        if data:
            self.buffer.add(
                self.device_id,
                [(m.seq, m.topic, json.dumps(m.payload)) for m in data if m.seq is not None],
            )
            for message in data:
                self._live(message)
            self.pump()
        return [
            m.seq is not None or self._send(m.topic, json.dumps(m.payload), []) for m in messages
        ]

    def _live(self, message: Outgoing) -> None:
        assert message.seq is not None
        if self._behind or len(self._inflight) >= self.window:
            self._behind = True
            return
        if not self._send(message.topic, json.dumps(message.payload), [message.seq]):
            self._behind = True

    def pump(self) -> None:
        """Send the backlog, in seq order, while the window has room."""
        link = self.link
        while self._behind and link is not None and link.connected:
            room = self.window - len(self._inflight)
            if room <= 0:
                return
            rows = self.buffer.after(self.device_id, self._cursor, self.batch_max)
            if not rows:
                self._behind = False
                return
            if not self._flush(rows, room):
                return

    def _flush(self, rows: list[Row], room: int) -> bool:
        """Send rows as batches and single ticks, up to `room` messages; False if it failed."""
        start = 0
        while start < len(rows) and room > 0:
            end = start
            while end < len(rows) and rows[end].topic == self._telemetry_topic:
                end += 1
            if end > start + 1:
                chunk = rows[start:end]
                seqs = [row.seq for row in chunk]
                if not self._send(self._telemetry_topic, _batch(self.device_id, chunk), seqs):
                    return False
                self.stats.batches += 1
                self.stats.replayed += len(chunk)
            else:
                end = start + 1
                row = rows[start]
                if not self._send(row.topic, row.payload, [row.seq]):
                    return False
                self.stats.replayed += 1
            start, room = end, room - 1
        return True

    def _send(self, topic: str, payload: str, seqs: list[int]) -> bool:
        link = self.link
        mid = None if link is None else link.publish(topic, payload.encode(), self.qos)
        if mid is None:
            return False
        self._inflight[mid] = seqs
        if seqs:
            self._cursor = max(self._cursor, seqs[-1])
        return True

    # --- Handler (the link's callbacks) ------------------------------------------------------

    def connected(self) -> None:
        self._inflight.clear()
        self._cursor = 0
        self._behind = True
        self.pump()

    def disconnected(self) -> None:
        self._inflight.clear()
        self._behind = True

    def published(self, mid: int, ok: bool) -> None:
        seqs = self._inflight.pop(mid, None)
        if seqs:
            self.buffer.acked(self.device_id, seqs)
            if not ok:
                self.stats.rejected += len(seqs)
                log.warning(
                    "%s: the broker refused seq %d..%d (not authorized?): dropped",
                    self.device_id,
                    seqs[0],
                    seqs[-1],
                )
        if self._behind:
            self.pump()

    def command(self, payload: bytes) -> None:
        self.on_command(self, payload)


def _batch(device_id: str, rows: Sequence[Row]) -> str:
    readings = []
    for row in rows:
        reading = json.loads(row.payload)
        for key in _RESERVED_IN_BATCH:
            reading.pop(key, None)
        readings.append(reading)
    return json.dumps({"deviceId": device_id, "readings": readings})
