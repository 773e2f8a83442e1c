"""Commands a device answers: `devices/{id}/commands` in, `devices/{id}/acks` out (the contract)."""

from __future__ import annotations

import json
from typing import Any, Final, Protocol

MIN_INTERVAL_S: Final = 0.01
MAX_INTERVAL_S: Final = 3600.0


class CommandError(Exception):
    """A command the device cannot carry out; its message is the ack's `detail`."""


class Tunable(Protocol):
    """What a command can change on a device."""

    def set_interval(self, seconds: float) -> None: ...


def answer(payload: bytes, device: Tunable) -> dict[str, Any] | None:
    """Carry out one command and return its ack; None when there is no `id` to answer to.

    `set_interval` (`args.seconds`, a number in [0.01, 3600]) changes how often the device
    publishes its data, `ping` only answers; anything else is acknowledged with status error.
    """
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        return None
    try:
        detail = _carry_out(body.get("command"), body.get("args"), device)
    except CommandError as exc:
        return {"id": body["id"], "status": "error", "detail": str(exc)}
    return {"id": body["id"], "status": "ok", "detail": detail}


def _carry_out(command: Any, args: Any, device: Tunable) -> str:
    if command == "ping":
        return "pong"
    if command == "set_interval":
        seconds = _seconds(args)
        device.set_interval(seconds)
        return f"interval set to {seconds:g} s"
    raise CommandError(f"unknown command {command!r}"[:200])


def _seconds(args: Any) -> float:
    seconds = args.get("seconds") if isinstance(args, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise CommandError("set_interval needs args.seconds, a number")
    if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
        raise CommandError(
            f"args.seconds must be between {MIN_INTERVAL_S:g} and {MAX_INTERVAL_S:g}"
        )
    return float(seconds)
