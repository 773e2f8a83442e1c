"""Whether a JSON document can be stored as PostgreSQL jsonb (which refuses NUL and invalid
UTF-8, e.g. lone surrogates), with nesting bounded."""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 32


def unstorable(document: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why `document` cannot be stored, or None when it can."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            return f"nested deeper than {max_depth}"
        if isinstance(value, dict):
            stack.extend((key, depth) for key in value)
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and not _storable(value):
            return "holds a string with NUL or invalid UTF-8"
    return None


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
