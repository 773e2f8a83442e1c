"""A dashboard panel's side form (its ✎ in edit mode): title, type, targets one a line,
thresholds one a line and a candlestick's indicators one a line, read from the working copy
and applied back to it (a live preview: the page re-renders the panel). Its callbacks are
registered by dashboard/pages/board.py, like the other edit callbacks
(dashboard/boards/edits.py says why).
"""

from __future__ import annotations

import copy
from typing import Any

import dash
from dash import ctx, dcc, html

from tickwire import indicators

#: The panel types, in the order the dropdowns offer them (api/schemas/dashboards.py).
TYPES = ("timeseries", "candlestick", "stat", "gauge", "table", "bar", "alerts", "text")
#: Every indicator a candlestick panel draws, with usual parameters: what "add an indicator"
#: offers (the line it adds; then edit its numbers).
USUAL = (
    ("sma 20", "SMA (simple moving average)"),
    ("ema 50", "EMA (exponential moving average)"),
    ("bbands 20 2", "Bollinger bands (period, σ)"),
    ("vwap", "VWAP (daily)"),
    ("rsi 14", "RSI"),
    ("macd 12 26 9", "MACD (fast, slow, signal)"),
    ("atr 14", "ATR"),
    ("obv", "OBV"),
)
INDICATORS_HINT = "sma 20 · ema 50 · bbands 20 2 · vwap\nrsi 14 · macd 12 26 9 · atr 14 · obv"


def form() -> html.Div:
    return html.Div(
        id="board-form",
        className="board-form",
        style={"display": "none"},
        children=[
            dcc.Store(id="board-picked"),
            html.Label(["Title", dcc.Input(id="board-form-title", className="tw-input")]),
            html.Label(
                [
                    "Type",
                    dcc.Dropdown(
                        id="board-form-type",
                        options=[{"label": t, "value": t} for t in TYPES],
                        clearable=False,
                        className="board-add-type",
                    ),
                ]
            ),
            html.Label(
                [
                    "Targets: `device <id|$var> [metric]` or `ticker <ticker|$var>`",
                    dcc.Textarea(id="board-form-targets", className="board-form-text"),
                ]
            ),
            html.Label(
                [
                    "Thresholds: `<value> <colour>`",
                    dcc.Textarea(id="board-form-thresholds", className="board-form-text"),
                ]
            ),
            html.Label(
                [
                    "Indicators (candlestick): `<name> <parameters>`",
                    dcc.Textarea(
                        id="board-form-indicators",
                        className="board-form-text",
                        placeholder=INDICATORS_HINT,
                    ),
                    dcc.Dropdown(
                        id="board-form-add-indicator",
                        options=[
                            {"label": f"{label}: {line}", "value": line} for line, label in USUAL
                        ],
                        placeholder="add an indicator…",
                        className="board-add-type",
                    ),
                ]
            ),
            html.Button("Apply to panel", id="board-form-apply", className="tw-button"),
        ],
    )


def targets_text(targets: list[dict[str, Any]]) -> str:
    """Targets as the form shows them, one a line."""
    lines = []
    for target in targets:
        if target.get("ticker"):
            lines.append(f"ticker {target['ticker']}")
        else:
            lines.append(" ".join(["device", target["device_id"], target.get("metric") or ""]))
    return "\n".join(line.strip() for line in lines)


def parse_targets(text: str) -> list[dict[str, Any]]:
    """The form's targets; ValueError naming the first line it cannot read."""
    found: list[dict[str, Any]] = []
    for number, line in enumerate((text or "").splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if words[0] == "ticker" and len(words) == 2:
            found.append({"ticker": words[1]})
        elif words[0] == "device" and len(words) in (2, 3):
            found.append(
                {"device_id": words[1]} | ({"metric": words[2]} if len(words) == 3 else {})
            )
        else:
            raise ValueError(f"line {number}: `device <id> [metric]` or `ticker <ticker>`")
    return found


def thresholds_text(thresholds: list[dict[str, Any]]) -> str:
    return "\n".join(f"{t['value']:g} {t['color']}" for t in thresholds)


def parse_thresholds(text: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for number, line in enumerate((text or "").splitlines(), 1):
        words = line.split()
        if not words:
            continue
        try:
            value = float(words[0])
        except ValueError:
            raise ValueError(f"threshold line {number}: `<value> <colour>`") from None
        if len(words) != 2:
            raise ValueError(f"threshold line {number}: `<value> <colour>`")
        found.append({"value": value, "color": words[1]})
    return found


def indicators_text(chosen: list[dict[str, Any]]) -> str:
    """A candlestick panel's indicators as the form shows them, one a line: `macd 12 26 9`."""
    return "\n".join(indicators.name_of(option).replace(":", " ") for option in chosen)


def parse_indicators(text: str) -> list[dict[str, Any]]:
    """The form's indicators (`<name> <parameters…>` a line, or the API's `sma:20`), each as
    the indicators API would accept it; ValueError naming the first line it cannot read."""
    found: list[dict[str, Any]] = []
    for number, line in enumerate((text or "").splitlines(), 1):
        words = line.replace(":", " ").split()
        if not words:
            continue
        kind, *values = words
        wanted = indicators.PARAMETERS.get(kind.lower())
        if wanted is None or len(values) != len(wanted):
            known = ", ".join(indicators.PARAMETERS)
            raise ValueError(f"indicator line {number}: `<name> <parameters>`, names {known}")
        try:
            option: dict[str, Any] = {"name": kind.lower()} | {
                field: float(value) if field == "stddev" else int(value)
                for field, value in zip(wanted, values, strict=True)
            }
            indicators.parse(indicators.name_of(option))
        except (ValueError, indicators.IndicatorError) as wrong:
            raise ValueError(f"indicator line {number}: {wrong}") from None
        found.append(option)
    return found


def add_indicator(line: str | None, text: str | None) -> tuple[Any, Any]:
    """ "add an indicator": its usual line after the box's lines, and the choice cleared."""
    if not line:
        return dash.no_update, dash.no_update
    kept = (text or "").rstrip("\n")
    return (f"{kept}\n{line}" if kept else line), None


def picked(_clicks: Any, model: dict[str, Any] | None) -> tuple[Any, ...]:
    """A panel's ✎: its fields into the form."""
    fired = ctx.triggered_id
    if model is None or fired is None or not ctx.triggered[0]["value"]:
        return (dash.no_update,) * 7
    panel = next((p for p in model["panels"] if p["id"] == fired["panel"]), None)
    if panel is None:
        return (dash.no_update,) * 7
    return (
        panel["id"],
        panel.get("title", ""),
        panel["type"],
        targets_text(panel.get("targets", [])),
        thresholds_text(panel.get("thresholds", [])),
        indicators_text((panel.get("options") or {}).get("indicators") or []),
        {"display": "flex"},
    )


def apply_form(
    clicks: int | None,
    panel_id: int | None,
    fields: dict[str, str | None],
    model: dict[str, Any] | None,
) -> tuple[Any, Any]:
    """The form's `fields` (title, type, targets, thresholds, indicators) into the working
    copy: the page re-renders the panel (a preview). Indicators are a candlestick's only."""
    if not clicks or model is None or panel_id is None:
        return dash.no_update, dash.no_update
    try:
        parsed = (
            parse_targets(fields["targets"] or ""),
            parse_thresholds(fields["thresholds"] or ""),
        )
        chosen = parse_indicators(fields["indicators"] or "")
    except ValueError as wrong:
        return dash.no_update, str(wrong)
    changed = copy.deepcopy(model)
    for panel in changed["panels"]:
        if panel["id"] == panel_id:
            panel.update(title=fields["title"] or "", type=fields["type"] or panel["type"])
            panel["targets"], panel["thresholds"] = parsed
            options = panel.setdefault("options", {})
            options.pop("indicators", None)
            if chosen and panel["type"] == "candlestick":
                options["indicators"] = chosen
    return changed, "Panel changed (not saved)."
