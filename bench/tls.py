"""What TLS costs the ingest path: the same backlog drained over the plain and the TLS listener.

`python -m bench.tls [--quick] [--rounds R] [--messages N]`

One Mosquitto with both listeners (as `make up` runs it) and one PostgreSQL, as in
`bench.ingest`, whose method this reuses: a consumer's persistent session is primed, the
single-reading workload is published (plain listener) while nobody consumes, then the consumer
connects and is timed until it has every message:

- a bare paho subscriber acking on receipt (the broker's delivery ceiling), plain and TLS;
- the real `python -m ingest` until every row is committed, plain (`mqtt://`) and TLS
  (`mqtts://` with `TICKWIRE_MQTT_CA_FILE`).

The four run interleaved round by round; the table shows each one's median round, then the
TLS / plain ratios side by side, and one JSON line. Exit status 1 when anything was lost or
duplicated. The ratios are reported, not enforced (a shared, noisy machine).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from bench import report
from bench.ingest import IngestBench
from bench.report import Result
from bench.stack import stack
from bench.workload import single_readings
from ingest.settings import IngestSettings
from tickwire.logs import setup_logging

log = logging.getLogger("bench.tls")

SCENARIOS = ("ceiling plain", "ceiling TLS", "tickwire plain", "tickwire TLS")


def run(messages: int, devices: int, rounds: int, server_url: str | None) -> dict[str, object]:
    """Every scenario `rounds` times, interleaved; print the table and the ratios; return the
    JSON line's fields."""
    workload = single_readings(messages, devices)
    done: dict[str, list[Result]] = {name: [] for name in SCENARIOS}
    with (
        tempfile.TemporaryDirectory(prefix="tickwire-bench-tls-") as tmp,
        stack(Path(tmp), server_url) as servers,
    ):
        bench = IngestBench(servers, IngestSettings())
        for number in range(1, rounds + 1):
            log.info("round %d of %d", number, rounds)
            for tls in (False, True):
                name = f"ceiling {'TLS' if tls else 'plain'}"
                done[name].append(bench.ceiling(workload, f"bare paho subscriber, {name}", tls))
            for tls in (False, True):
                name = f"tickwire {'TLS' if tls else 'plain'}"
                label = f"python -m ingest, {name}"
                done[name].append(bench.tickwire(label, name.replace(" ", "_"), workload, tls))
    results = {name: report.median(found) for name, found in done.items()}
    print(report.table(list(results.values())))
    fields = _fields(results, rounds)
    print()
    print(
        f"TLS / plain, messages per second: ceiling {fields['ceiling_tls_ratio']:.2f}, "
        f"tickwire {fields['tickwire_tls_ratio']:.2f}   (median of {rounds} interleaved rounds)"
    )
    return fields


def _fields(results: dict[str, Result], rounds: int) -> dict[str, object]:
    rate = {name: result.msgs_s for name, result in results.items()}
    return {
        "bench": "tls",
        "messages": results["tickwire plain"].messages,
        "rounds": rounds,
        **{f"{name.replace(' ', '_').lower()}_msgs_s": round(r) for name, r in rate.items()},
        "ceiling_tls_ratio": round(rate["ceiling TLS"] / rate["ceiling plain"], 3),
        "tickwire_tls_ratio": round(rate["tickwire TLS"] / rate["tickwire plain"], 3),
        "tickwire_tls_peak_rss_mb": results["tickwire TLS"].peak_rss_mb,
        "lost": sum(r.lost for r in results.values()),
        "dup": sum(r.dup for r in results.values()),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tls", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, help="single-reading messages (default 50 000)")
    parser.add_argument("--rounds", type=int, help="rounds of every scenario (default 3)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: CI smoke")
    parser.add_argument("--server-url", help="use this PostgreSQL server, not an embedded one")
    args = parser.parse_args(argv)
    setup_logging("bench", "INFO")
    messages = args.messages or (2_000 if args.quick else 50_000)
    rounds = max(1, args.rounds or (1 if args.quick else 3))
    fields = run(messages, 100 if args.quick else 500, rounds, args.server_url)
    print(json.dumps(fields), flush=True)
    return 1 if fields["lost"] or fields["dup"] else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
