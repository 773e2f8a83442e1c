"""The devices' MQTT credentials, kept in a JSON file readable by its owner only.

`{device_id: {"username": …, "password": …}}` (TICKWIRE_SIM_CREDENTIALS, default
`$TICKWIRE_DATA_DIR/simulator/credentials.json`, mode 0600). Written whole, atomically.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from simulator.link import Auth

log = logging.getLogger("simulator.credentials")


def load(path: Path) -> dict[str, Auth]:
    """The credentials in `path`; none when it is missing or unreadable (logged)."""
    try:
        body = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring the credentials file %s (%s)", path, exc)
        return {}
    if not isinstance(body, dict):
        log.warning("ignoring the credentials file %s (not a JSON object)", path)
        return {}
    found = {}
    for device_id, entry in body.items():
        if isinstance(entry, dict) and isinstance(entry.get("username"), str):
            password = entry.get("password")
            found[device_id] = Auth(
                entry["username"], password if isinstance(password, str) else None
            )
    return found


def save(path: Path, credentials: dict[str, Auth]) -> None:
    """Replace the file with `credentials` (mode 0600 from the start)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        d: {"username": a.username, "password": a.password} for d, a in sorted(credentials.items())
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(body, file, indent=1)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
