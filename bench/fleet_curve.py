"""`python -m bench.ingest --devices 10,1000,10000 [--compare DIR]`: tickwire's single-message
rate as the fleet grows, the same number of messages spread over N distinct devices
(auto-registered by the ingester as they first speak), beside the bare paho ceiling,
interleaved round by round.

Each tickwire run is timed until its rows are committed and then the rollup partials still
appended are merged (plain PostgreSQL: `ingest.merger.merge`, run by the bench), so the work
the ingester puts off is inside the clock (its merger's sleep is not). `--compare DIR`: the
ingester of another source tree (e.g. a `git worktree` of an earlier commit) runs every fleet
size too, in the same rounds; its rows are labelled `compared`, and its ratios are to its own
smallest fleet. `--warm`: the devices are registered and ONLINE before each run (a steady-state
fleet), so first contact (registration, ONLINE events, the engine's reloads) is outside it."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.ingest import IngestBench, Sizes
from bench.ingester import How
from bench.report import Result
from bench.stack import stack
from bench.workload import single_readings
from ingest.settings import IngestSettings
from tests.process_support import REPO


def run(
    sizes: Sizes,
    fleets: list[int],
    rounds: int,
    server_url: str | None,
    compare: Path | None = None,
    warm: bool = False,
) -> dict[str, Any]:
    """Every fleet size (of each tree) and the ceiling `rounds` times, interleaved; print the
    curve."""
    loads = {n: single_readings(sizes.messages, n) for n in fleets}
    trees: dict[str, Path] = {"": REPO} | ({"compared ": compare} if compare else {})
    runs = [(prefix, n) for prefix in trees for n in fleets]
    done: dict[str, list[Result]] = {
        name: [] for name in ["ceiling", *(f"{p}{n}" for p, n in runs)]
    }
    with (
        tempfile.TemporaryDirectory(prefix="tickwire-bench-") as tmp,
        stack(Path(tmp), server_url) as servers,
    ):
        bench = IngestBench(servers, IngestSettings())
        for number in range(rounds):
            done["ceiling"].append(bench.ceiling(loads[fleets[0]]))
            order = runs[number % len(runs) :] + runs[: number % len(runs)]
            for prefix, n in order:
                label = f"tickwire, {prefix}{n} devices"
                how = How(trees[prefix], merged=True)
                result = bench.tickwire(label, "fleet", loads[n], how=how, warm=warm)
                done[f"{prefix}{n}"].append(result)
                print(
                    f"round {number + 1}: {prefix}{n} devices: {result.msgs_s:,.0f} msg/s, "
                    f"CPU µs/msg ingester {_num(result.ingester_cpu_us, 0, '.1f')}, "
                    f"server {_num(result.server_cpu_us, 0, '.1f')}"
                )
    fields = _report(sizes, fleets, rounds, done)
    return fields | {"warm": warm}


def _report(
    sizes: Sizes, fleets: list[int], rounds: int, done: dict[str, list[Result]]
) -> dict[str, Any]:
    """The table: per consumer the median rate and its spread, its ratio to the ceiling and to
    the smallest fleet; then the median CPU µs per message of the ingester and of the
    PostgreSQL server (all its processes), each with its ratio to the smallest fleet's."""
    rates = {name: sorted(r.msgs_s for r in results) for name, results in done.items()}
    ceiling = statistics.median(rates["ceiling"])
    print()
    print(
        f"{sizes.messages:,} single-reading messages; {rounds} rounds; median (min–max) msg/s; "
        "CPU µs per message (median): the ingester's, the server's, and their ratio to the "
        f"{fleets[0]}-device fleet's (wall rate: higher is better; CPU: lower is better)"
    )
    print(
        f"{'consumer':<37}{'msg/s':>9}{'spread':>20}{'/ ceiling':>11}{f'/ {fleets[0]} dev':>11}"
        f"{'ingest µs':>11}{'ratio':>7}{'server µs':>11}{'ratio':>7}"
    )
    fields: dict[str, Any] = {"bench": "ingest_fleet", "messages": sizes.messages}
    for name, got in rates.items():
        median = statistics.median(got)
        prefix = "compared " if name.startswith("compared ") else ""
        smallest = f"{prefix}{fleets[0]}"
        base = statistics.median(rates.get(smallest, rates["ceiling"]))
        label = "bare paho (ceiling)" if name == "ceiling" else f"tickwire, {name} devices"
        spread = f"{got[0]:,.0f}–{got[-1]:,.0f}"
        key = name.replace("compared ", "compared_")
        cpu = ""
        for side in ("ingester_cpu_us", "server_cpu_us"):
            mine = _cpu(done[name], side)
            theirs = _cpu(done.get(smallest, []), side)
            ratio = mine / theirs if mine is not None and theirs else None
            cpu += f"{_num(mine, 11, '.1f')}{_num(ratio, 7, '.2f')}"
            if mine is not None:
                fields[f"{key}_{side}"] = round(mine, 1)
            if ratio is not None:
                fields[f"{key}_{side}_ratio"] = round(ratio, 3)
        print(
            f"{label:<37}{median:>9,.0f}{spread:>20}{median / ceiling:>11.2f}"
            f"{median / base:>11.2f}{cpu}"
        )
        fields[f"{key}_msgs_s"] = round(median)
        fields[f"{key}_ratio"] = round(median / base, 3)
    fields["lost"] = sum(r.lost for name, rs in done.items() if name != "ceiling" for r in rs)
    fields["dup"] = sum(r.dup for name, rs in done.items() if name != "ceiling" for r in rs)
    return fields


def _cpu(results: list[Result], side: str) -> float | None:
    """The median of the rounds' CPU µs per message on one side (None: not measured)."""
    values = [v for r in results if (v := getattr(r, side)) is not None]
    return statistics.median(values) if values else None


def _num(value: float | None, width: int, spec: str) -> str:
    return f"{'–' if value is None else format(value, spec):>{width}}"
