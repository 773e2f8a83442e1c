"""Reading the SQL files of this package."""

from __future__ import annotations

from pathlib import Path

SQL_DIR = Path(__file__).parent


def read(name: str) -> str:
    return (SQL_DIR / name).read_text()


def statements(name: str) -> list[str]:
    """Statements of a file written one per block, blocks separated by a line holding ';'."""
    blocks = read(name).split("\n;\n")
    return [b.strip() for b in blocks if b.strip() and not _only_comments(b)]


def _only_comments(block: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in block.splitlines())
