"""The ingest bench's results as a table, the targets they are held to, and the JSON line."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class Result:
    """One scenario: what went in, how long it took, and what came out wrong."""

    scenario: str
    messages: int
    rows: int | None
    seconds: float
    lost: int
    dup: int
    peak_rss_mb: float | None = None
    ingester_cpu_us: float | None = None
    """The ingester's CPU µs per message (`bench.ingester.Cpu`); None: not measured."""
    server_cpu_us: float | None = None
    """PostgreSQL's CPU µs per message, all its processes; None: not measured."""

    @property
    def msgs_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def rows_s(self) -> float | None:
        if self.rows is None:
            return None
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def median(rounds: list[Result]) -> Result:
    """The median round by rate (the faster middle one of an even count), carrying every
    round's losses and duplicates and the highest peak RSS."""
    middle = sorted(rounds, key=lambda r: r.seconds)[(len(rounds) - 1) // 2]
    peaks = [r.peak_rss_mb for r in rounds if r.peak_rss_mb is not None]
    return replace(
        middle,
        lost=sum(r.lost for r in rounds),
        dup=sum(r.dup for r in rounds),
        peak_rss_mb=max(peaks) if peaks else None,
    )


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    shown: str
    wanted: str
    met: bool


_COLUMNS: Final = (
    ("scenario", 44),
    ("messages", 9),
    ("rows", 9),
    ("seconds", 8),
    ("msgs/s", 9),
    ("rows/s", 9),
    ("lost", 5),
    ("dup", 4),
    ("peak RSS", 9),
)


def table(results: list[Result]) -> str:
    header = "  ".join(
        name.ljust(width) if index == 0 else name.rjust(width)
        for index, (name, width) in enumerate(_COLUMNS)
    )
    lines = [header, "-" * len(header)]
    for r in results:
        cells = (
            r.scenario,
            _int(r.messages),
            _int(r.rows),
            f"{r.seconds:.2f}",
            _int(r.msgs_s),
            _int(r.rows_s),
            str(r.lost),
            str(r.dup),
            "–" if r.peak_rss_mb is None else f"{r.peak_rss_mb:.0f} MB",
        )
        lines.append(
            "  ".join(
                cell.ljust(width) if index == 0 else cell.rjust(width)
                for index, (cell, (_, width)) in enumerate(zip(cells, _COLUMNS, strict=True))
            )
        )
    return "\n".join(lines)


def summary(ceiling: Result, tickwire: Result, naive: Result, batch: Result) -> dict[str, Any]:
    """The JSON line's fields; lost and dup count both tickwire runs."""
    return {
        "bench": "ingest",
        "ceiling_msgs_s": round(ceiling.msgs_s),
        "tickwire_msgs_s": round(tickwire.msgs_s),
        "ratio_to_ceiling": round(tickwire.msgs_s / ceiling.msgs_s, 3),
        "naive_msgs_s": round(naive.msgs_s, 1),
        "ratio_to_naive": round(tickwire.msgs_s / naive.msgs_s, 1),
        "batch_rows_s": round(batch.rows_s or 0.0),
        "ingest_peak_rss_mb": round(max(tickwire.peak_rss_mb or 0, batch.peak_rss_mb or 0), 1),
        "lost": tickwire.lost + batch.lost,
        "dup": tickwire.dup + batch.dup,
    }


def targets(s: dict[str, Any]) -> list[Target]:
    return [
        Target(
            "ratio to ceiling",
            f"{s['ratio_to_ceiling']:.2f}",
            "≥ 0.8",
            s["ratio_to_ceiling"] >= 0.8,
        ),
        Target("ratio to naive", f"{s['ratio_to_naive']:.1f}", "≥ 20", s["ratio_to_naive"] >= 20),
        Target("batch rows/s", _int(s["batch_rows_s"]), "≥ 100 000", s["batch_rows_s"] >= 100_000),
        Target("lost / dup", f"{s['lost']} / {s['dup']}", "0 / 0", s["lost"] == s["dup"] == 0),
        Target(
            "ingest peak RSS",
            f"{s['ingest_peak_rss_mb']:.0f} MB",
            "< 300 MB",
            s["ingest_peak_rss_mb"] < 300,
        ),
    ]


def render_targets(found: list[Target]) -> str:
    return "\n".join(
        f"{t.name:<18}{t.shown:>10}   target {t.wanted:<11}{'met' if t.met else 'MISSED'}"
        for t in found
    )


def json_line(s: dict[str, Any]) -> str:
    return json.dumps(s, separators=(",", ":"))


def _int(value: float | None) -> str:
    return "–" if value is None else f"{round(value):,}".replace(",", " ")
