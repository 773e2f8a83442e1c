"""The whole stack under a fleet: 1 000 simulated devices at 1 message/s each for 60 s.

`python -m bench.load [--quick] [--devices N] [--seconds S] [--server-url URL]`

Every part runs as in production, each its own process: an embedded PostgreSQL (in a
temporary directory), Mosquitto, `python -m ingest`, `python -m api` (with the dashboard) and
the simulator, `python -m simulator` with the settings of `--devices N --interval 1
--tickers 0 --drop-every 0 --duration S` (as TICKWIRE_SIM_* variables): one MQTT connection
per device, QoS 1, each reading written to its store-and-forward buffer and deleted after the
broker's PUBACK. The broker is anonymous here (no per-device ACLs in the path measured).

Counts, from the database after the simulator stopped and the ingester caught up:
- published: the telemetry messages the simulator reports ("stopped: published …
  (telemetry T …) … unconfirmed U": T − U left its buffer acknowledged by the broker);
- lost = published − distinct (device, ts) readings in `telemetry` (a device's ts strictly
  increase, so each message has its own ts); dup = rows − distinct (device, metric, ts).
  Per device, the counts of readings are shown as min / max (each device runs its own clock).

Latency, publish → commit: each reading's `ts` (set by the simulator when it makes the reading,
just before it is buffered and published) against its transaction's commit time,
`pg_xact_commit_timestamp(xmin)`: the bench's server runs with `track_commit_timestamp = on`
(no schema change; same machine, same clock; ts has millisecond resolution).

CPU and memory: each process sampled every second with psutil over the simulator's lifetime
(connecting the fleet included): CPU is the average share of one core (user + system time,
every PostgreSQL process of the server counted, backends that ended too); memory is the peak
RSS (PostgreSQL: the peak sum of its processes' PSS, so shared buffers count once).

Exit status 1 when a reading was lost or duplicated.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.load_counts import database, settle, tally
from bench.publisher import publish
from bench.report import json_line
from bench.sampler import Sampler, family
from devstack.broker import Mosquitto
from devstack.ports import free_port
from tests.process_support import service
from tickwire.logs import setup_logging

log = logging.getLogger("bench.load")

PREFIX = "load"
SUMMARY = re.compile(r"stopped: published \d+ \(telemetry (\d+),.* unconfirmed (\d+)")


@dataclass(frozen=True, slots=True)
class Sizes:
    devices: int = 1_000
    seconds: float = 60.0


QUICK = Sizes(devices=200, seconds=15.0)


def wait_http(url: str, child: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if child.poll() is not None:
            raise RuntimeError(f"the API exited with {child.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer 200 in {timeout}s")
        time.sleep(0.2)


def wait_subscribed(database_url: str, broker_url: str, child: Any) -> None:
    """The ingester's subscriptions exist once a probe heartbeat is committed."""
    deadline = time.monotonic() + 60
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"the ingester exited with {child.returncode}")
            publish(broker_url, [("devices/load-probe/heartbeat", b'{"uptime_s": 1}')])
            found = conn.execute(
                "SELECT 1 FROM devices WHERE device_id = 'load-probe' AND last_seen IS NOT NULL"
            ).fetchone()
            if found:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the ingester did not subscribe in 60 s")
            time.sleep(0.5)


def run(sizes: Sizes, server_url: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tickwire-load-") as tmp:
        workdir = Path(tmp)
        return _run(sizes, workdir, server_url)


def _run(sizes: Sizes, workdir: Path, server_url: str | None) -> dict[str, Any]:
    broker = Mosquitto(workdir / "broker", free_port())
    broker.start()
    assert broker.process is not None
    try:
        with database(workdir, server_url) as (database_url, pg_pid):
            common = {
                "TICKWIRE_DATABASE_URL": database_url,
                "TICKWIRE_MQTT_URL": broker.url,
                "TICKWIRE_LOG_LEVEL": "INFO",
            }
            port = free_port()
            api_env = {
                **common,
                "TICKWIRE_HTTP_PORT": str(port),
                "TICKWIRE_SECRET": secrets.token_urlsafe(40),
                "TICKWIRE_DATA_DIR": str(workdir / "api"),
                "TICKWIRE_LOG_LEVEL": "WARNING",
            }
            ingest_env = {
                **common,
                "TICKWIRE_INGEST_CLIENT_ID": "load-ingest",
                "TICKWIRE_INGEST_INSTANCE": "load",
                "TICKWIRE_DATA_DIR": str(workdir / "ingest"),
            }
            sim_env = {
                **common,
                "TICKWIRE_DATA_DIR": str(workdir / "simulator"),
                "TICKWIRE_SIM_DEVICES": str(sizes.devices),
                "TICKWIRE_SIM_INTERVAL_S": "1",
                "TICKWIRE_SIM_TICKERS": "0",
                "TICKWIRE_SIM_DROP_EVERY": "0",
                "TICKWIRE_SIM_DURATION_S": str(sizes.seconds),
                "TICKWIRE_SIM_SEED": "1",
                "TICKWIRE_SIM_PREFIX": PREFIX,
            }
            with (
                service("ingest", ingest_env, workdir / "ingest.log") as ingester,
                service("api", api_env, workdir / "api.log") as api,
            ):
                wait_subscribed(database_url, broker.url, ingester)
                wait_http(f"http://127.0.0.1:{port}/health", api)
                sim_log = workdir / "simulator.log"
                with service("simulator", sim_env, sim_log, grace_s=60) as simulator:
                    groups = {
                        "simulator": family(simulator.pid),
                        "mosquitto": family(broker.process.pid),
                        "ingest": family(ingester.pid),
                        "postgres": family(pg_pid) if pg_pid else lambda: [],
                        "api": family(api.pid),
                    }
                    sampler = Sampler(groups, pss={"postgres"})
                    sampler.start()
                    simulator.wait(sizes.seconds + 600)
                    sampler.stop()
                published, unconfirmed = _summary(sim_log)
                log.info("simulator: %d telemetry messages, %d unconfirmed", published, unconfirmed)
                settle(database_url, 2 * (published - unconfirmed))
                counted = tally(database_url, PREFIX)
                counted["ingest_alive"] = ingester.poll() is None
    finally:
        broker.stop()
    return _fields(sizes, sampler, published, unconfirmed, counted)


def _summary(sim_log: Path) -> tuple[int, int]:
    for line in reversed(sim_log.read_text(errors="replace").splitlines()):
        if match := SUMMARY.search(line):
            return int(match[1]), int(match[2])
    tail = "\n".join(sim_log.read_text(errors="replace").splitlines()[-20:])
    raise RuntimeError(f"no summary line in the simulator's log:\n{tail}")


def _fields(
    sizes: Sizes, sampler: Sampler, published: int, unconfirmed: int, counted: dict[str, Any]
) -> dict[str, Any]:
    delivered = published - unconfirmed
    names = ("simulator", "mosquitto", "ingest", "postgres", "api")
    return {
        "bench": "load",
        "devices": sizes.devices,
        "seconds": sizes.seconds,
        "window_s": round(sampler.stopped - sampler.started, 1),
        "published": published,
        "unconfirmed": unconfirmed,
        "readings": counted["readings"],
        "rows": counted["rows"],
        "lost": max(0, delivered - counted["readings"]),
        "dup": counted["dup"],
        "per_device_min": counted["per_device"][0],
        "per_device_max": counted["per_device"][1],
        "dead_letters": counted["dead_letters"],
        "p50_ms": _round(counted["p50_ms"]),
        "p99_ms": _round(counted["p99_ms"]),
        "max_ms": _round(counted["max_ms"]),
        "cpu_pct": {n: round(sampler.cpu_percent(n), 1) for n in names},
        "peak_mb": {n: round(sampler.usage[n].peak_bytes / 2**20, 1) for n in names},
    }


def table(f: dict[str, Any]) -> str:
    lines = [
        f"{f['devices']} devices × 1 msg/s × {f['seconds']:g} s "
        f"(simulator ran {f['window_s']:g} s, connecting included)",
        "",
        f"{'published (acked by broker)':<32}{f['published'] - f['unconfirmed']:>10}",
        f"{'unconfirmed at exit':<32}{f['unconfirmed']:>10}",
        f"{'readings in the database':<32}{f['readings']:>10}",
        f"{'per device min / max':<32}{f['per_device_min']:>5} /{f['per_device_max']:>3}",
        f"{'lost':<32}{f['lost']:>10}",
        f"{'duplicates':<32}{f['dup']:>10}",
        f"{'publish→commit p50 / p99 / max':<32}"
        f"{_ms(f['p50_ms'])} / {_ms(f['p99_ms'])} / {_ms(f['max_ms'])}",
        "",
        f"{'process':<12}{'CPU (% of a core)':>18}{'peak memory':>14}",
    ]
    for name, cpu in f["cpu_pct"].items():
        memory = f"{f['peak_mb'][name]:.0f} MB" + (" PSS" if name == "postgres" else " RSS")
        lines.append(f"{name:<12}{cpu:>18.1f}{memory:>14}")
    return "\n".join(lines)


def fleet_options(
    parser: argparse.ArgumentParser, argv: list[str], full: Sizes, quick: Sizes
) -> tuple[Sizes, argparse.Namespace]:
    """--quick, --devices and --seconds added to `parser`; the sizes they ask for."""
    parser.add_argument(
        "--quick", action="store_true", help=f"{quick.devices} devices for {quick.seconds:g} s"
    )
    parser.add_argument("--devices", type=int, help=f"simulated devices ({full.devices})")
    parser.add_argument("--seconds", type=float, help=f"how long they publish ({full.seconds:g})")
    args = parser.parse_args(argv)
    base = quick if args.quick else full
    return Sizes(args.devices or base.devices, args.seconds or base.seconds), args


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--server-url",
        help="use a fresh database on this PostgreSQL server, not an embedded one (its "
        "processes are not sampled; latency needs track_commit_timestamp = on there)",
    )
    sizes, args = fleet_options(parser, argv, Sizes(), QUICK)
    setup_logging("bench", "INFO")
    fields = run(sizes, args.server_url)
    print(table(fields))
    print(json_line(fields), flush=True)
    return 1 if fields["lost"] or fields["dup"] else 0


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
