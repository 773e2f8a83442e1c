"""Dashboards provisioned from `TICKWIRE_DASHBOARDS_DIR`: read once at start, read-only.

Each `*.json` file holds one dashboard in the export format (its `uid`, or else the file's
name, names it). They are not stored in the database: every API process reads the same files,
so replicas agree without a write at start.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from api.schemas.dashboards import UID_RE, Dashboard, problems

#: A provisioning file larger than this is refused (as a body larger than the API takes).
MAX_FILE_BYTES = 1024 * 1024


class ProvisioningError(Exception):
    """A file in the folder is not a dashboard: the start stops with its name and why."""


def load(folder: Path | None) -> dict[str, Dashboard]:
    """The dashboards in `folder` by uid (none when unset), in file name order."""
    if folder is None:
        return {}
    found: dict[str, Dashboard] = {}
    for path in sorted(folder.glob("*.json")):
        dashboard = _read(path)
        assert dashboard.uid is not None
        if dashboard.uid in found:
            raise ProvisioningError(f"{path}: uid {dashboard.uid!r} is provisioned twice")
        found[dashboard.uid] = dashboard
    return found


def _read(path: Path) -> Dashboard:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ProvisioningError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        dashboard = Dashboard.model_validate(json.loads(path.read_text("utf-8")))
    except (ValueError, ValidationError) as exc:
        raise ProvisioningError(f"{path}: not a dashboard: {exc}") from None
    wrong = problems(dashboard)
    if wrong:
        raise ProvisioningError(f"{path}: {wrong}")
    if dashboard.uid is None:
        if UID_RE.fullmatch(path.stem) is None:
            raise ProvisioningError(f"{path}: no uid, and the file name is not one")
        dashboard = dashboard.model_copy(update={"uid": path.stem})
    return dashboard.model_copy(update={"version": 1, "meta": None})
