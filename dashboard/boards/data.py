"""What a dashboard page reads from the API: the dashboard, its variables' choices, and each
target's data, with `$name` replaced by the variable's chosen values."""

from __future__ import annotations

import asyncio
from datetime import tzinfo
from typing import Any
from urllib.parse import quote

from dashboard import client, frame
from dashboard.devices import data as devices_data
from dashboard.markets import data as markets_data
from tickwire import units
from tickwire.contract import ID_RE, METRIC_RE, TICKER_RE

#: Points a time panel asks for, whatever its width: within what the API allows.
MOST_POINTS, LEAST_POINTS = 2000, 20
MULTI_DEFAULT = 20
#: Alerts a time series marks at most (the API's largest page).
MOST_MARKS = 1000
_PATTERNS = {"device_id": ID_RE, "ticker": TICKER_RE, "metric": METRIC_RE}


async def dashboard(uid: str) -> dict[str, Any]:
    found: dict[str, Any] = await client.get(f"/api/dashboards/{quote(uid, safe='')}")
    return found


async def dashboards() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await client.get("/api/dashboards", limit=1000))["items"]
    return found


async def choices(variable: dict[str, Any]) -> list[str]:
    """A variable's options: its own, else the devices, tickers or metrics the viewer reads."""
    if variable.get("options"):
        return [str(o) for o in variable["options"]]
    kind = variable["kind"]
    if kind == "device":
        return sorted(d["device_id"] for d in await devices_data.fleet())
    if kind == "ticker":
        return sorted(s["ticker"] for s in await markets_data.stocks())
    if kind == "metric":
        latest = await client.get("/api/devices/latest", limit=1000)
        return sorted({m for d in latest["items"] for m in d["values"]})
    return []


def chosen(variable: dict[str, Any], asked: Any, options: list[str]) -> list[str]:
    """The values in force: the address's (`asked`), else the default, else the first option;
    only known options when the variable has a list of them."""
    values = asked if asked not in (None, "", []) else variable.get("default")
    if values in (None, "", []):
        # No default: the first option, or for a multi variable the first MULTI_DEFAULT.
        values = options[:MULTI_DEFAULT] if variable.get("multi") else options[:1]
    listed = [str(v) for v in (values if isinstance(values, list) else [values])]
    if options:
        listed = [v for v in listed if v in options] or options[:1]
    return listed if variable.get("multi") else listed[:1]


def expand(targets: list[dict[str, Any]], values: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The targets with each `$name` replaced: one target per value of a multi variable. A
    value that is no id of its field (from the address: `?var-x=../users`) is dropped, so
    nothing but an id ever reaches a request's path."""
    done: list[dict[str, Any]] = []
    for target in targets:
        expanded = [dict(target)]
        for field in ("device_id", "ticker", "metric"):
            raw = target.get(field)
            if isinstance(raw, str) and raw.startswith("$"):
                picks = [v for v in values.get(raw[1:], []) if _PATTERNS[field].fullmatch(v)]
                expanded = [t | {field: v} for t in expanded for v in picks]
        done.extend(expanded)
    return done


def titled(title: str, values: dict[str, list[str]]) -> str:
    """`title` with each `$name` of a variable replaced by its values (longest names first)."""
    for name in sorted(values, key=len, reverse=True):
        title = title.replace(f"${name}", ", ".join(values[name]))
    return title


def points_for(pixels: int | None) -> int:
    return devices_data.points_for(pixels, MOST_POINTS, LEAST_POINTS)


async def series(
    target: dict[str, Any], start: str, end: str, points: int, tz: tzinfo
) -> list[dict[str, Any]]:
    """The target's series as `{"name", "x", "y", "last"}` (a device without a metric: one per
    metric; a ticker: its closes)."""
    if target.get("device_id"):
        answer = await devices_data.telemetry(
            target["device_id"], start, end, points, target.get("metric"), tz
        )
        return [metric_series(target["device_id"], s) for s in answer["series"]]
    body = await markets_data.history(target["ticker"], start, end, points)
    candles = body["candles"]
    return [
        {
            "name": target["ticker"],
            "x": [frame.wall(c["time"], tz) for c in candles],
            "y": [c["close"] for c in candles],
            "last": candles[-1]["close"] if candles else None,
            "unit": "price",
            "subject": {"ticker": target["ticker"]},
        }
    ]


def metric_series(device_id: str, answer: dict[str, Any]) -> dict[str, Any]:
    """One series of a device's telemetry answer (`devices.data.telemetry`) as a panel draws
    it; buckets carry their min–max as a band."""
    metric = answer["metric"]
    points = answer["points"]
    band = None
    if answer["method"] == "bucket":
        band = ([p["min"] for p in points], [p["max"] for p in points])
    return {"name": f"{device_id} {metric}", "x": answer["x"], "y": answer["y"],
            "last": answer.get("last"), "unit": units.UNITS.get(metric, metric),
            "subject": {"device_id": device_id, "metric": metric}, "band": band}  # fmt: skip


async def many(
    targets: list[dict[str, Any]], start: str, end: str, points: int, tz: tzinfo
) -> list[dict[str, Any]]:
    """Every target's series, fetched at once; a target the API refuses is an error series.
    The devices' targets of one metric are one history call (`_batched`), not one each."""
    fetched = await _batched(targets, start, end, points, tz)

    async def one(target: dict[str, Any]) -> list[dict[str, Any]]:
        found = fetched.get((target.get("device_id") or "", target.get("metric")))
        if found is None:
            return await series(target, start, end, points, tz)
        return [metric_series(target["device_id"], s) for s in found["series"]]

    answers = await asyncio.gather(*(one(t) for t in targets), return_exceptions=True)
    found: list[dict[str, Any]] = []
    for target, answer in zip(targets, answers, strict=True):
        if isinstance(answer, client.ApiFailed):
            name = target.get("device_id") or target.get("ticker")
            found.append({"name": name, "x": [], "y": [], "last": None, "error": answer.message})
        elif isinstance(answer, BaseException):
            raise answer
        else:
            found.extend(answer)
    return found


async def _batched(
    targets: list[dict[str, Any]], start: str, end: str, points: int, tz: tzinfo
) -> dict[tuple[str, str | None], dict[str, Any]]:
    """{(device, metric): its telemetry answer} for the device targets, one call per metric
    (and per HISTORY_BATCH devices) where several devices share it. A call the API refuses
    (one device not the viewer's: all or nothing) leaves its devices out, to be asked one by
    one, so the error series names the one refused."""
    groups: dict[str | None, list[str]] = {}
    for target in targets:
        if target.get("device_id"):
            ids = groups.setdefault(target.get("metric"), [])
            if target["device_id"] not in ids:
                ids.append(target["device_id"])
    size = devices_data.HISTORY_BATCH
    calls = [
        (metric, ids[k : k + size])
        for metric, ids in groups.items()
        if len(ids) > 1
        for k in range(0, len(ids), size)
    ]
    answers = await asyncio.gather(
        *(devices_data.telemetries(ids, start, end, points, m, tz) for m, ids in calls),
        return_exceptions=True,
    )
    found: dict[tuple[str, str | None], dict[str, Any]] = {}
    for (metric, _), answer in zip(calls, answers, strict=True):
        if isinstance(answer, client.ApiFailed):
            continue
        if isinstance(answer, BaseException):
            raise answer
        found |= {(item["device_id"], metric): item for item in answer}
    return found


async def latest(
    targets: list[dict[str, Any]], start: str, end: str, points: int, tz: tzinfo
) -> list[dict[str, Any]]:
    """Each target's newest value as a series without points (`last` only), for the panels
    that show nothing else while live (table, bar): two calls whatever the number of targets
    (`GET /api/devices/latest`, `GET /api/quotes`), not one history each. A subject the API
    refuses: each target's history (`many`), which names the one refused."""
    devices = sorted({t["device_id"] for t in targets if t.get("device_id")})
    tickers = sorted({t["ticker"] for t in targets if t.get("ticker")})
    try:
        found_devices, found_quotes = await asyncio.gather(
            client.get("/api/devices/latest", device_id=devices) if devices else _none(),
            client.get("/api/quotes", tickers=",".join(tickers)) if tickers else _none(),
        )
    except client.ApiFailed:
        return await many(targets, start, end, points, tz)
    values = {d["device_id"]: d["values"] for d in found_devices["items"]}
    prices = {q["ticker"]: q["price"] for q in found_quotes["items"]}
    found: list[dict[str, Any]] = []
    for target in targets:
        if target.get("ticker"):
            ticker = target["ticker"]
            found.append(_last(ticker, prices.get(ticker), "price", {"ticker": ticker}))
            continue
        device_id, metric = target["device_id"], target.get("metric")
        newest = values.get(device_id, {})
        for name in [metric] if metric else sorted(newest):
            value = (newest.get(name) or {}).get("value")
            subject = {"device_id": device_id, "metric": name}
            found.append(_last(f"{device_id} {name}", value, units.UNITS.get(name, name), subject))
    return found


async def _none() -> dict[str, Any]:
    return {"items": []}


def _last(name: str, value: float | None, unit: str, subject: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "x": [], "y": [], "last": value, "unit": unit, "subject": subject}


async def candles(ticker: str, start: str, end: str, points: int) -> dict[str, Any]:
    """The API's history answer: `candles`, `interval_ms`, `end` (what live ticks continue)."""
    return await markets_data.history(ticker, start, end, points)


async def indicators(
    ticker: str, start: str, end: str, points: int, names: list[str]
) -> tuple[dict[str, Any] | None, str | None]:
    """The API's indicators `names` on the candles `candles` gives for the same range and
    points: (the answer, None), (None, why not), or (None, None) for no names."""
    if not names:
        return None, None
    try:
        return await markets_data.indicators(ticker, start, end, points, tuple(names)), None
    except client.ApiFailed as failed:
        return None, failed.message


async def alerts(
    state: str | None, limit: int, targets: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The newest `limit` alerts (in `state`), only the targets' devices and tickers' when the
    panel has targets."""
    query: dict[str, Any] = {"limit": limit}
    if state:
        query["state"] = state.upper()
    subjects = {t.get("device_id") or t.get("ticker") for t in targets or []} - {None, ""}
    if len(subjects) == 1:
        target = (targets or [])[0]
        field = "device_id" if target.get("device_id") else "ticker"
        query[field] = target[field]
    elif subjects:
        query["limit"] = MOST_MARKS
    items: list[dict[str, Any]] = (await client.get("/api/alerts", **query))["items"]
    if subjects:
        items = [a for a in items if a["subject"] in subjects]
    return items[:limit]


async def marks(
    targets: list[dict[str, Any]], start: str, end: str, tz: tzinfo
) -> list[dict[str, Any]]:
    """The alerts raised in [start, end) on the targets' devices and tickers, as
    `{"raised", "cleared", "text", "severity"}` (times on the charts' wall clock in `tz`):
    one subject asks the API for its own; several, for the range's alerts (the newest
    MOST_MARKS), kept when on one of them."""
    subjects = {t.get("device_id") or t.get("ticker") for t in targets} - {None, ""}
    if not subjects:
        return []
    query: dict[str, Any] = {"since": start, "until": end, "limit": MOST_MARKS}
    if len(subjects) == 1:
        target = targets[0]
        field = "device_id" if target.get("device_id") else "ticker"
        query[field] = target[field]
    items = (await client.get("/api/alerts", **query))["items"]
    return [
        {
            "raised": frame.wall(a["raised_at"], tz),
            "cleared": frame.wall(a["cleared_at"], tz) if a.get("cleared_at") else None,
            "text": f"{a['subject']}: {a['message']}",
            "severity": a["severity"],
        }
        for a in items
        if a["subject"] in subjects
    ]
