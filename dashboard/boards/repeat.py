"""Repeated panels, laid out as Grafana does: a panel whose `options.repeat` names a multi
variable is drawn once per chosen value, each copy with the variable bound to its value.

The copies fill the row side by side (each `max(24 // n, 24 // max_per_row)` columns wide,
`max_per_row` 4 by default, Grafana's `maxPerRow`) and wrap onto new rows of the panel's
height; the panels below move down by the rows added, those beside it stay (Grafana too: give a
repeated panel a row of its own). The first copy keeps the panel's id, so it is the one edited;
the others are `"<id>-<n>"` (n from 2). Text and alert-list panels do not repeat: they read no
target, so every copy would be the same (the API refuses `repeat` on them).
"""

from __future__ import annotations

from typing import Any

COLUMNS = 24
MAX_PER_ROW = 4
#: Panel types a repeat means nothing for (no targets): the API refuses `repeat` on them.
NOT_REPEATED = frozenset({"text", "alerts"})

Shown = tuple[dict[str, Any], dict[str, list[str]]]
"""A panel as drawn (its id and grid possibly a copy's) and the variables' values it uses."""


def laid_out(panels: list[dict[str, Any]], values: dict[str, list[str]]) -> list[Shown]:
    """Every panel as drawn with `values` (variable → chosen values): repeated ones once per
    value, the panels below them moved down."""
    shown: list[Shown] = []
    ordered = sorted(panels, key=lambda p: (p["grid"]["y"], p["grid"]["x"]))
    moves: list[tuple[int, int]] = []  # (rows below this one move down, by how many)
    for panel in ordered:
        grid = dict(panel["grid"])
        grid["y"] += sum(by for below, by in moves if panel["grid"]["y"] >= below)
        name = repeat_of(panel)
        picks = values.get(name, []) if name else []
        if len(picks) < 2:
            shown.append((panel | {"grid": grid}, values))
            continue
        copies = _copies(panel, grid, picks, values)
        shown.extend(copies)
        bottom = max(c["grid"]["y"] + c["grid"]["h"] for c, _ in copies)
        moves.append((panel["grid"]["y"] + panel["grid"]["h"], bottom - grid["y"] - grid["h"]))
    return shown


def _copies(
    panel: dict[str, Any], grid: dict[str, Any], picks: list[str], values: dict[str, list[str]]
) -> list[Shown]:
    per_row = int(panel.get("options", {}).get("max_per_row") or MAX_PER_ROW)
    width = max(COLUMNS // len(picks), COLUMNS // max(1, min(per_row, COLUMNS)))
    name = repeat_of(panel)
    assert name is not None
    copies: list[Shown] = []
    x, y = 0, grid["y"]
    for n, value in enumerate(picks, 1):
        if x + width > COLUMNS:
            x, y = 0, y + grid["h"]
        at = {"x": x, "y": y, "w": width, "h": grid["h"]}
        copy_id = panel["id"] if n == 1 else f"{panel['id']}-{n}"
        copies.append((panel | {"id": copy_id, "grid": at}, values | {name: [value]}))
        x += width
    return copies


def repeat_of(panel: dict[str, Any]) -> str | None:
    """The variable the panel repeats over, if it repeats."""
    if panel["type"] in NOT_REPEATED:
        return None
    name = (panel.get("options") or {}).get("repeat")
    return name if isinstance(name, str) and name else None
