"""The device page and the markets page as dashboard models (DESIGN.md "Dashboards"),
generated on the fly: the pages draw their charts from these panels with the boards' panel
code (dashboard/boards/panels.py), and "Save as dashboard" posts them as the user's own.

What the model cannot express stays page-only: the device page's rolling averages and command
form, the markets page's tape and watchlist editor. The markets page's indicators are its
candlestick panel's `options.indicators`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import dash

from dashboard import client, frame
from tickwire.contract import ID_RE, METRIC_RE, TICKER_RE

#: Two time series side by side, each this tall (grid rows); the lists below them full width.
HALF, CHART_H, LIST_H, STAT_H = 12, 8, 6, 4
CANDLE_H = 12
#: A rule's threshold on a chart (the colour of a raised alert: critical's).
RULE_COLOR = "#f2495c"
#: Rule kinds that compare a device's metric to a threshold.
METRIC_RULES = frozenset({"HIGH_TEMP", "THRESHOLD"})
#: The model's title: at most this many characters (the API's `Text`).
TITLE_MAX = 200


def time_window(timerange: dict[str, Any] | None) -> dict[str, str]:
    """The frame's range as the model's `time`: `now-1h` … `now`, or a custom range's instants."""
    chosen = timerange or {}
    if chosen.get("range") == "custom" and chosen.get("start"):
        start, end = frame.window(chosen)
        return {"from": start, "to": end if chosen.get("end") else "now"}
    span = str(chosen.get("range") or frame.DEFAULT_RANGE)
    span = span if span in frame.SPANS else frame.DEFAULT_RANGE
    return {"from": f"now-{span}", "to": "now"}


def rule_thresholds(
    rules: list[dict[str, Any]], device: dict[str, Any], metric: str
) -> list[dict[str, Any]]:
    """The levels of the enabled rules that watch `metric` on this device (its own rules and
    the fleet's rules of its kind or of every kind), each once, lowest first."""
    levels = {
        float(rule["threshold"])
        for rule in rules
        if rule.get("enabled", True)
        and rule.get("kind") in METRIC_RULES
        and rule.get("threshold") is not None
        and (rule.get("metric") or "temperature") == metric
        and rule.get("device_id") in (None, device["device_id"])
        and rule.get("device_kind") in (None, device.get("kind"))
    }
    return [{"value": level, "color": RULE_COLOR} for level in sorted(levels)]


def _check(pattern: re.Pattern[str], value: str, what: str) -> None:
    """No model of a subject that cannot exist (the API's ids): a ValueError, not a model the
    API would refuse."""
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise ValueError(f"not a {what}: {value!r}")


def _title(text: str) -> str:
    # The API's Text refuses control characters; an id never has any, a name might.
    cleaned = "".join(c if c.isprintable() else " " for c in text).strip()
    return cleaned[:TITLE_MAX] or "dashboard"


def _panel(
    number: int,
    kind: str,
    title: str,
    cell: tuple[int, int, int, int],
    targets: list[dict[str, str]],
    **options: Any,
) -> dict[str, Any]:
    x, y, w, h = cell
    return {"id": number, "type": kind, "title": title, "grid": {"x": x, "y": y, "w": w, "h": h},
            "targets": targets, "options": options, "thresholds": []}  # fmt: skip


def device(
    found: dict[str, Any],
    metrics: list[str],
    rules: list[dict[str, Any]],
    timerange: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The device page's model: a time series per metric (the device's rule levels as
    thresholds), two to a row, and the device's alerts under them."""
    device_id = found["device_id"]
    _check(ID_RE, device_id, "device id")
    for metric in metrics:
        _check(METRIC_RE, metric, "metric")
    panels: list[dict[str, Any]] = []
    for i, metric in enumerate(metrics):
        cell = ((i % 2) * HALF, (i // 2) * CHART_H, HALF, CHART_H)
        target = [{"device_id": device_id, "metric": metric}]
        panel = _panel(i + 1, "timeseries", metric, cell, target)
        panels.append(panel | {"thresholds": rule_thresholds(rules, found, metric)})
    below = ((len(metrics) + 1) // 2) * CHART_H
    cell, mine = (0, below, 2 * HALF, LIST_H), [{"device_id": device_id}]
    panels.append(_panel(len(metrics) + 1, "alerts", "Alerts", cell, mine, limit=20))
    return {
        "title": _title(found.get("name") or device_id),
        "tags": ["device"],
        "time": time_window(timerange),
        "refresh": None,
        "variables": [],
        "panels": panels,
        "shared_with": [],
    }


def ticker(
    symbol: str,
    timerange: dict[str, Any] | None = None,
    indicators: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The markets page's model for one ticker: its quote as a stat, its candles with volume
    and the `indicators` shown (the candlestick panel's `options.indicators`), and its
    alerts."""
    _check(TICKER_RE, symbol, "ticker")
    subject = [{"ticker": symbol}]
    full = 2 * HALF
    drawn = {"indicators": indicators} if indicators else {}
    panels = [
        _panel(1, "stat", f"{symbol} last", (0, 0, full, STAT_H), subject),
        _panel(2, "candlestick", symbol, (0, STAT_H, full, CANDLE_H), subject, **drawn),
        _panel(3, "alerts", "Alerts", (0, STAT_H + CANDLE_H, full, LIST_H), subject, limit=20),
    ]
    return {
        "title": _title(symbol),
        "tags": ["markets"],
        "time": time_window(timerange),
        "refresh": None,
        "variables": [],
        "panels": panels,
        "shared_with": [],
    }


def copy_of(model: dict[str, Any]) -> dict[str, Any]:
    """The model as "Save as dashboard" posts it: titled as a copy."""
    suffix = " (copy)"
    return model | {"title": _title(model["title"][: TITLE_MAX - len(suffix)].rstrip() + suffix)}


async def save_as(clicks: int | None, model: dict[str, Any] | None) -> tuple[Any, Any]:
    """ "Save as dashboard" (the device and markets pages): POST the page's model as the
    caller's own dashboard → (where to go: `/d/<uid>`, a message)."""
    if not clicks or not model:
        # Not PreventUpdate: an async callback's is a 500 on Dash 4.4 (docs/dashboard.md).
        return dash.no_update, dash.no_update
    try:
        answer = await client.request("POST", "/api/dashboards", json=copy_of(model))
    except client.ApiFailed as failed:
        if failed.status == 401:
            return dash.no_update, "Log in to save a dashboard of your own."
        return dash.no_update, f"Not saved: {failed.message}"
    return f"/d/{quote(answer['uid'], safe='')}", "Saved: opening it…"
