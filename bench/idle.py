"""The ingester's cost at a steady, modest rate: CPU share of one core at 1 000 msg/s.

`python -m bench.idle [--rate 1000] [--devices 1000] [--seconds 20] [--rounds 3]
[--compare DIR] [--server-url URL]`

One Mosquitto and one PostgreSQL serve the run. Each round starts `python -m ingest` on a
fresh migrated database, waits until it is subscribed, then one paho client publishes
single-reading telemetry messages (QoS 1) round-robin over `--devices` devices at `--rate`
messages a second: one from each device first (warm-up: registrations and the alert engine's
reloads for new devices are start-up, not steady state), then, measured, for `--seconds`.
The ingester's CPU share is its process CPU time (user + system, from /proc) over the
publishing window divided by the window's wall time: unlike a throughput it does not drop
when a neighbour takes the cores, but a busy machine still adds noise (cache, scheduling).
lost / dup are counted in the database after the ingester caught up.

`--compare DIR`: another source tree (e.g. a `git worktree` of an earlier commit) whose
ingester runs in the same rounds, interleaved, so before and after share the machine's state.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from bench.load import wait_subscribed
from bench.load_counts import settle
from bench.report import json_line
from bench.stack import fresh_database, stack
from bench.tally import tally_telemetry
from bench.workload import Workload, single_readings
from tests.process_support import REPO, service
from tickwire import mqtt as adapter
from tickwire.logs import setup_logging
from tickwire.settings import MqttAddress


def paced(url: str, workload: Workload, rate: float) -> float:
    """Publish the workload at `rate` msg/s; return the seconds it took (until every PUBACK)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"idle-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(0)
    acked = threading.Semaphore(0)
    client.on_publish = lambda *_: acked.release()
    adapter.connect_blocking(client, MqttAddress(url))
    client.loop_start()
    started = time.monotonic()
    try:
        for index, (topic, payload) in enumerate(workload.messages):
            due = started + index / rate
            if (wait := due - time.monotonic()) > 0.001:
                time.sleep(wait)
            client.publish(topic, payload, qos=1)
        for _ in workload.messages:
            if not acked.acquire(timeout=60):
                raise TimeoutError("the broker stopped acknowledging")
        return time.monotonic() - started
    finally:
        client.disconnect()
        client.loop_stop()


def one(
    server_url: str,
    broker_url: str,
    workdir: Path,
    tree: Path,
    load: Workload,
    rate: float,
    devices: int,
) -> tuple[float, int, int]:
    """(CPU share, lost, dup) of the ingester of `tree`."""
    measured = Workload(load.messages[devices:], load.keys, load.rows_per_message)
    name = f"idle_{uuid.uuid4().hex[:8]}"
    with fresh_database(server_url, name) as url:
        env = {
            "TICKWIRE_DATABASE_URL": url,
            "TICKWIRE_MQTT_URL": broker_url,
            "TICKWIRE_INGEST_CLIENT_ID": name,
            "TICKWIRE_INGEST_INSTANCE": "idle",
            "TICKWIRE_DATA_DIR": str(workdir),
        }
        with service("ingest", env, workdir / f"{name}.log", cwd=tree) as child:
            wait_subscribed(url, broker_url, child)
            # Warm-up, not measured: every device speaks once (registered, known to the alert
            # engine: its reloads on new devices are start-up, not steady state).
            paced(broker_url, load.head(devices), rate)
            settle(url, devices * load.rows_per_message, timeout=60)
            process = psutil.Process(child.pid)
            before, wall = process.cpu_times(), time.monotonic()
            paced(broker_url, measured, rate)
            after, wall = process.cpu_times(), time.monotonic() - wall
            settle(url, len(load.keys), timeout=60)
        tally = tally_telemetry(url, load.keys)
    cpu = (after.user + after.system) - (before.user + before.system)
    return cpu / wall, tally.lost, tally.dup


def run(args: argparse.Namespace) -> dict[str, Any]:
    load = single_readings(int(args.rate * args.seconds) + args.devices, args.devices)
    trees = {"this tree": REPO}
    if args.compare:
        trees["compared"] = Path(args.compare).resolve()
    shares: dict[str, list[float]] = {name: [] for name in trees}
    lost = dup = 0
    with (
        tempfile.TemporaryDirectory(prefix="tickwire-idle-") as tmp,
        stack(Path(tmp), args.server_url) as servers,
    ):
        for number in range(args.rounds):
            names = list(trees)[number % len(trees) :] + list(trees)[: number % len(trees)]
            for name in names:
                share, lo, du = one(
                    servers.server_url, servers.broker_url, servers.workdir, trees[name], load,
                    args.rate, args.devices,
                )  # fmt: skip
                shares[name].append(share)
                lost, dup = lost + lo, dup + du
                print(f"round {number + 1}: {name}: {100 * share:.1f} % of a core", flush=True)
    print()
    print(
        f"{args.rate:g} msg/s from {args.devices} devices for {args.seconds:g} s; "
        f"{args.rounds} rounds; ingester CPU, % of one core: median (min–max)"
    )
    fields: dict[str, Any] = {"bench": "idle", "rate": args.rate, "devices": args.devices}
    for name, got in shares.items():
        got.sort()
        median = statistics.median(got)
        print(f"{name:<12}{100 * median:>8.1f}   ({100 * got[0]:.1f}–{100 * got[-1]:.1f})")
        fields["cpu_pct" if name == "this tree" else "compared_cpu_pct"] = round(100 * median, 1)
    fields["lost"], fields["dup"] = lost, dup
    return fields


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.idle", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="messages a second (1000)")
    parser.add_argument("--devices", type=int, default=1000, help="devices (1000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="publishing time (20)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--compare", help="another source tree whose ingester runs alongside")
    parser.add_argument("--server-url", help="use this PostgreSQL server, not an embedded one")
    args = parser.parse_args(argv)
    setup_logging("bench", "WARNING")
    fields = run(args)
    print(json_line(fields), flush=True)
    return 1 if fields["lost"] or fields["dup"] else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
