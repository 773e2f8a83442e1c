"""`python -m bench.ingest --devices 10,1000,10000`: tickwire's single-message rate as the
fleet grows, the same number of messages spread over N distinct devices (auto-registered by
the ingester as they first speak), beside the bare paho ceiling, interleaved round by round."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.ingest import IngestBench, Sizes
from bench.report import Result
from bench.stack import stack
from bench.workload import single_readings
from ingest.settings import IngestSettings


def run(sizes: Sizes, fleets: list[int], rounds: int, server_url: str | None) -> dict[str, Any]:
    """Every fleet size and the ceiling `rounds` times, interleaved; print the curve."""
    loads = {n: single_readings(sizes.messages, n) for n in fleets}
    done: dict[str, list[Result]] = {name: [] for name in ["ceiling", *map(str, fleets)]}
    with (
        tempfile.TemporaryDirectory(prefix="tickwire-bench-") as tmp,
        stack(Path(tmp), server_url) as servers,
    ):
        bench = IngestBench(servers, IngestSettings())
        for number in range(rounds):
            done["ceiling"].append(bench.ceiling(loads[fleets[0]]))
            order = fleets[number % len(fleets) :] + fleets[: number % len(fleets)]
            for n in order:
                done[str(n)].append(bench.tickwire(f"tickwire, {n} devices", "fleet", loads[n]))
                print(f"round {number + 1}: {n} devices: {done[str(n)][-1].msgs_s:,.0f} msg/s")
    rates = {name: sorted(r.msgs_s for r in results) for name, results in done.items()}
    base = statistics.median(rates[str(fleets[0])])
    ceiling = statistics.median(rates["ceiling"])
    print()
    print(f"{sizes.messages:,} single-reading messages; {rounds} rounds; median (min–max) msg/s")
    print(f"{'consumer':<28}{'msg/s':>9}{'spread':>20}{'/ ceiling':>11}{f'/ {fleets[0]} dev':>11}")
    fields: dict[str, Any] = {"bench": "ingest_fleet", "messages": sizes.messages}
    for name, got in rates.items():
        median = statistics.median(got)
        label = "bare paho (ceiling)" if name == "ceiling" else f"tickwire, {name} devices"
        spread = f"{got[0]:,.0f}–{got[-1]:,.0f}"
        print(
            f"{label:<28}{median:>9,.0f}{spread:>20}{median / ceiling:>11.2f}{median / base:>11.2f}"
        )
        fields[f"{name}_msgs_s"] = round(median)
        fields[f"{name}_ratio"] = round(median / base, 3)
    fields["lost"] = sum(r.lost for name, rs in done.items() if name != "ceiling" for r in rs)
    fields["dup"] = sum(r.dup for name, rs in done.items() if name != "ceiling" for r in rs)
    return fields
