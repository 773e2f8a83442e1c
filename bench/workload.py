"""What the ingest bench publishes: telemetry of many devices, as the MQTT contract has it.

Every device reports once a second; the newest reading is about now, so nothing falls outside
the ingester's accepted time window. Each (device, metric, ts) occurs once: a complete ingest
has exactly `len(keys)` telemetry rows.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from tickwire.contract import EPOCH, telemetry_topic

METRICS: Final = ("temperature", "humidity")

Message = tuple[str, bytes]
"""(topic, payload)."""
Key = tuple[str, str, datetime]
"""(device_id, metric, time): the natural key of a telemetry row."""


@dataclass(frozen=True, slots=True)
class Workload:
    """Messages in publishing order and the row keys they carry, in the same order."""

    messages: list[Message]
    keys: list[Key]
    rows_per_message: int

    def head(self, count: int) -> Workload:
        """The first `count` messages and their keys."""
        return Workload(
            self.messages[:count], self.keys[: count * self.rows_per_message], self.rows_per_message
        )


def single_readings(count: int, devices: int, seed: int = 1) -> Workload:
    """`count` messages of one reading each (2 metrics), round-robin over `devices`."""
    rng = random.Random(seed)
    start = _now_ms() - (-(-count // devices)) * 1000
    messages: list[Message] = []
    keys: list[Key] = []
    for index in range(count):
        step, device = divmod(index, devices)
        device_id = f"sensor-{device:04d}"
        ts = start + step * 1000 + device  # devices are not in lock-step
        body = {"deviceId": device_id, "ts": ts, **_reading(rng, device), "seq": step}
        messages.append((telemetry_topic(device_id), _dumps(body)))
        keys += _keys(device_id, ts)
    return Workload(messages, keys, len(METRICS))


def alternating_readings(count: int, devices: int, period: int, seed: int = 3) -> Workload:
    """Like `single_readings`, but each device's temperature alternates every `period` of its
    readings between about 24 °C and about 31.5 °C: the built-in HIGH_TEMP alert (> 30 °C,
    clears at ≤ 29 °C) is raised and cleared on every device as the readings go in."""
    rng = random.Random(seed)
    start = _now_ms() - (-(-count // devices)) * 1000
    messages: list[Message] = []
    keys: list[Key] = []
    for index in range(count):
        step, device = divmod(index, devices)
        device_id = f"hot-{device:04d}"
        ts = start + step * 1000 + device
        hot = (step // period) % 2 == 1
        temperature = round((31.5 if hot else 24.0) + rng.uniform(-0.4, 0.4), 2)
        body = {"deviceId": device_id, "ts": ts, "temperature": temperature, "seq": step}
        body["humidity"] = round(rng.uniform(35.0, 62.0), 1)
        messages.append((telemetry_topic(device_id), _dumps(body)))
        keys += _keys(device_id, ts)
    return Workload(messages, keys, len(METRICS))


def alert_changes(count: int, devices: int, period: int) -> int:
    """The HIGH_TEMP raises and clears `alternating_readings` makes (every reading evaluated)."""
    changes = 0
    for device in range(devices):
        steps = len(range(device, count, devices))
        changes += max(0, steps - 1) // period  # a change at every period boundary
    return changes


def batch_readings(count: int, readings: int, devices: int, seed: int = 2) -> Workload:
    """`count` store-and-forward flushes of `readings` readings each, round-robin over devices."""
    rng = random.Random(seed)
    start = _now_ms() - (-(-count // devices)) * readings * 1000
    messages: list[Message] = []
    keys: list[Key] = []
    for index in range(count):
        step, device = divmod(index, devices)
        device_id = f"logger-{device:04d}"
        body: list[dict[str, Any]] = []
        for offset in range(readings):
            seq = step * readings + offset
            ts = start + seq * 1000 + device
            body.append({"ts": ts, **_reading(rng, device), "seq": seq})
            keys += _keys(device_id, ts)
        payload = _dumps({"deviceId": device_id, "readings": body})
        messages.append((telemetry_topic(device_id), payload))
    return Workload(messages, keys, readings * len(METRICS))


def _reading(rng: random.Random, device: int) -> dict[str, float]:
    return {
        "temperature": round(19.0 + device % 12 + rng.uniform(-0.8, 0.8), 2),
        "humidity": round(rng.uniform(35.0, 62.0), 1),
    }


def _keys(device_id: str, ts: int) -> list[Key]:
    time_ = EPOCH + timedelta(milliseconds=ts)
    return [(device_id, metric, time_) for metric in METRICS]


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _now_ms() -> int:
    return int(time.time() * 1000)
