"""Hostile payloads shared by the contract and ingest tests."""

from __future__ import annotations


def nested(depth: int, inner: bytes = b"1", kinds: bytes = b"[") -> bytes:
    """`inner` inside `depth` levels of arrays and/or objects (`kinds` cycled)."""
    opened, closed = [], []
    for level in range(depth):
        if kinds[level % len(kinds)] == ord("["):
            opened.append(b"[")
            closed.append(b"]")
        else:
            opened.append(b'{"k":')
            closed.append(b"}")
    return b"".join(opened) + inner + b"".join(reversed(closed))
