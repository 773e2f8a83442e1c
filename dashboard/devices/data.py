"""What the devices pages read from the API: telemetry series as
plot-ready x/y lists, rolling stats, alerts, commands.

Times on the charts are wall-clock strings in the page's zone (`frame.wall`): plotly.js ignores
zones, so the server's history and the browser's live points (assets/devices.js) must agree.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, tzinfo
from typing import Any
from urllib.parse import urlencode

from dashboard import client, frame

WINDOWS = ("5m", "1h", "24h")
#: Device ids one `GET /api/telemetry/history` call may name (the API's cap).
HISTORY_BATCH = 100
EXPORT_FORMATS = ("csv", "json", "xml")


async def telemetry(
    device_id: str,
    start: str,
    end: str,
    points: int,
    metric: str | None = None,
    tz: tzinfo = UTC,
) -> dict[str, Any]:
    """GET the device's telemetry; the answer with each series' `x` (wall clock in `tz`) and
    `y` added."""
    answer: dict[str, Any] = await client.get(
        f"/api/devices/{device_id}/telemetry", start=start, end=end, points=points, metric=metric
    )
    return _plotted(answer, tz)


async def telemetries(
    device_ids: list[str],
    start: str,
    end: str,
    points: int,
    metric: str | None = None,
    tz: tzinfo = UTC,
) -> list[dict[str, Any]]:
    """`telemetry` of many devices in one call (`GET /api/telemetry/history`, at most
    HISTORY_BATCH ids; ApiFailed 404 when one of them is not the caller's): one answer per
    distinct device, in id order."""
    body = await client.get(
        "/api/telemetry/history",
        device_id=device_ids,
        start=start,
        end=end,
        points=points,
        metric=metric,
    )
    return [_plotted(answer, tz) for answer in body["items"]]


def _plotted(answer: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    """The answer with each series' `x` (wall clock in `tz`), `y` and `last` added."""
    for series in answer["series"]:
        series["x"] = [frame.wall(p["time"], tz) for p in series["points"]]
        series["y"] = [p["value"] for p in series["points"]]
        series["last"] = _last(series["points"])
    return answer


async def device(device_id: str) -> tuple[dict[str, Any], int]:
    """The device and how many metrics it has (one chart each)."""
    found, latest = await asyncio.gather(
        client.get(f"/api/devices/{device_id}"),
        client.get("/api/devices/latest", device_id=device_id),
    )
    items = latest["items"]
    return found, len(items[0]["values"]) if items else 0


def _last(points: list[dict[str, Any]]) -> float | None:
    if not points:
        return None
    point = points[-1]
    value = point["last"] if point.get("last") is not None else point["value"]
    return float(value)


def resolution(answer: dict[str, Any]) -> str:
    """How the API answered, for the chart's label: raw rows or the bucket width and source."""
    methods = {s["method"] for s in answer.get("series", [])}
    if answer.get("interval"):
        return f"{answer['interval']} buckets · {answer['source']}"
    if "minmaxlttb" in methods:
        return "raw · MinMaxLTTB"
    return "raw"


def label(answer: dict[str, Any], width: int | None) -> str:
    """The resolution label of a chart: how the API answered, for how many points."""
    asked = answer.get("max_points")
    return f"{resolution(answer)} · {asked} points for {width or '?'} px"


def points_for(width: Any, most: int = 1000, least: int = 50) -> int:
    """As many points as the plot is wide (pixels), within [least, most]."""
    try:
        return min(max(int(width), least), most)
    except (TypeError, ValueError):
        return most


def export_href(device_id: str, metric: str, start: str, end: str, fmt: str) -> str:
    query = {"device_id": device_id, "metric": metric, "start": start, "end": end, "format": fmt}
    return "/api/export/telemetry?" + urlencode(query)


async def rolling_stats(device_id: str) -> dict[str, dict[str, dict[str, Any]]]:
    """{metric: {window: {avg, min, max, count}}} for the 5 m, 1 h and 24 h windows."""
    answers = await asyncio.gather(
        *(client.get("/api/stats/avg", device_id=device_id, window=w) for w in WINDOWS)
    )
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for name, answer in zip(WINDOWS, answers, strict=True):
        for row in answer["metrics"]:
            table.setdefault(row["metric"], {})[name] = row
    return table


async def alerts(device_id: str) -> list[dict[str, Any]]:
    page: dict[str, Any] = await client.get("/api/alerts", device_id=device_id, limit=20)
    items: list[dict[str, Any]] = page["items"]
    return items


async def commands(device_id: str) -> list[dict[str, Any]]:
    page: dict[str, Any] = await client.get(f"/api/devices/{device_id}/commands", limit=10)
    items: list[dict[str, Any]] = page["items"]
    return items


async def send_command(device_id: str, command: str, args: dict[str, Any]) -> dict[str, Any]:
    sent: dict[str, Any] = await client.request(
        "POST", f"/api/devices/{device_id}/commands", json={"command": command, "args": args}
    )
    return sent


async def fleet() -> list[dict[str, Any]]:
    """Every device the user reads, each with its newest `values` ({metric: {time, value}}):
    two calls whatever the fleet's size (the devices, and all their latest values at once)."""
    page, latest = await asyncio.gather(
        client.get("/api/devices", limit=1000), client.get("/api/devices/latest")
    )
    newest = {d["device_id"]: d for d in latest["items"]}
    devices: list[dict[str, Any]] = page["items"]
    for device in devices:
        now = newest.get(device["device_id"])
        if now is not None:  # read after the list: the fresher status
            device["status"], device["last_seen"] = now["status"], now["last_seen"]
        device["values"] = now["values"] if now is not None else {}
    return devices


async def rules() -> list[dict[str, Any]]:
    """The enabled alert rules the caller sees (their levels are the charts' thresholds)."""
    page: dict[str, Any] = await client.get("/api/alert-rules", enabled="true", limit=1000)
    items: list[dict[str, Any]] = page["items"]
    return items
