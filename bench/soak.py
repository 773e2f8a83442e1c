"""The whole stack under chaos: a fleet publishing while its parts are killed and stalled.

`python -m bench.soak [--quick] [--devices N] [--seconds S] [--seed K]`

Runs `python -m devstack` as `make up` does (its supervisor, an embedded PostgreSQL, Mosquitto
with per-device accounts, the ingester, the API and the simulator) in a temporary data dir. The
simulator provisions N devices through the API and runs them for S seconds: one MQTT connection
each, a reading a second (QoS 1, kept in its store-and-forward buffer until the broker's
PUBACK, no deliberate drops) and a price feed. Once the fleet is connected, a chaos loop
(seeded) acts every 3–8 s, in rounds holding each action once in a random order: `kill -9` of
the ingester, `kill -9` of the API, a stop of Mosquitto, a stall of PostgreSQL for 1–5 s
(every process of the server SIGSTOPped, then SIGCONTed). The supervisor restarts what died.

Mosquitto is stopped with SIGTERM, not SIGKILL: Mosquitto 2.0 saves its state every 5 s, not
per message, so a kill -9 loses what it acknowledged since (docs/deploy.md); SIGTERM saves first.

Then, with the simulator's own count ("published … telemetry T … unconfirmed U": T − U readings
left its buffer acknowledged by the broker) and the database once the ingester caught up:
- lost = T − U − distinct (device, ts) readings; dup = rows − distinct (device, metric, ts);
- rollups: every 1 m / 1 h / 1 d bucket recomputed from raw rows equals the stored one;
- stale alerts: OFFLINE alerts still open for a device heard from after they were raised.

Exit status 1 when anything was lost, duplicated, mismatched or stale.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.load import SUMMARY, Sizes, fleet_options
from bench.report import json_line
from devstack.ports import free_port
from tests.oracle import all_mismatches
from tests.process_support import postmaster, service, stack_child, stopped
from tickwire.logs import setup_logging
from tickwire.settings import embedded_database_url

log = logging.getLogger("bench.soak")

PREFIX = "soak"
CONNECTED = re.compile(r"(\d+) devices connected to")
ACTIONS = ("kill -9 ingest", "kill -9 api", "stop mosquitto", "stall postgresql")


FULL = Sizes(devices=1_000, seconds=300.0)
QUICK = Sizes(devices=200, seconds=45.0)


@dataclass
class Stack:
    root: subprocess.Popen[bytes]
    workdir: Path
    url: str

    @property
    def log(self) -> Path:
        return self.workdir / "stack.log"

    @property
    def pg_data(self) -> Path:
        return self.workdir / "data" / "pg" / "data"

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> None:
        if self.root.poll() is not None:
            raise RuntimeError(f"the stack exited; see {self.log}:\n{self.text()[-3000:]}")


def healthy(stack: Stack) -> bool:
    stack.alive()
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{stack.url}/health", timeout=3).status_code == 200
    return False


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.5)


def chaos(stack: Stack, rng: random.Random, until: Any) -> Counter[str]:
    """Act every 3–8 s until `until()` (the simulator finished); return what was done."""
    done: Counter[str] = Counter()
    plan: list[str] = []
    while not until():
        time.sleep(rng.uniform(3, 8))
        if until():
            break
        if not plan:  # every kind in each round, in a random order
            plan = rng.sample(ACTIONS, len(ACTIONS))
        action = plan.pop()
        if action == "stall postgresql":
            server = postmaster(stack.pg_data)
            if server is None:
                continue
            with stopped(server.pid):
                time.sleep(rng.uniform(1, 5))
        else:
            name = action.split()[-1]
            target = stack_child(stack.root.pid, name)
            if target is None:  # still being restarted
                continue
            target.send_signal(signal.SIGTERM if name == "mosquitto" else signal.SIGKILL)
        done[action] += 1
        log.info("chaos: %s", action)
    return done


def summary(stack: Stack) -> tuple[int, int] | None:
    for line in reversed(stack.text().splitlines()):
        if match := SUMMARY.search(line):
            return int(match[1]), int(match[2])
    return None


async def tally(database_url: str, expected_rows: int) -> dict[str, Any]:
    """Counts once the rows reach `expected_rows` or stop moving for 15 s."""
    conn = await asyncpg.connect(database_url)
    try:
        like = f"{PREFIX}-%"
        query = "SELECT count(*) FROM telemetry WHERE device_id LIKE $1"
        last, moved = -1, time.monotonic()
        while (rows := await conn.fetchval(query, like)) < expected_rows:
            if rows != last:
                last, moved = rows, time.monotonic()
            elif time.monotonic() - moved > 15:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # a late redelivery would show up as a duplicate now
        counts = await conn.fetchrow(
            """SELECT count(*) AS rows, count(DISTINCT (device_id, metric, time)) AS keys,
                      count(DISTINCT (device_id, time)) AS readings
               FROM telemetry WHERE device_id LIKE $1""",
            like,
        )
        stale = await conn.fetchval(
            """SELECT count(*) FROM alerts a JOIN devices d ON d.device_id = a.device_id
               WHERE a.kind = 'OFFLINE' AND a.state <> 'CLEARED' AND d.last_seen > a.raised_at
                 AND a.device_id LIKE $1""",
            like,
        )
        offline = await conn.fetchval(
            "SELECT count(*) FROM alerts WHERE kind = 'OFFLINE' AND device_id LIKE $1", like
        )
        mismatches = await all_mismatches(conn)
    finally:
        await conn.close()
    return {**dict(counts), "stale": stale, "offline_raised": offline, "mismatches": mismatches}


def run(sizes: Sizes, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tw-soak-") as tmp:
        return _run(sizes, seed, Path(tmp))


def _run(sizes: Sizes, seed: int, workdir: Path) -> dict[str, Any]:
    port = free_port()
    env = {
        "TICKWIRE_DATA_DIR": str(workdir / "data"),
        "TICKWIRE_HTTP_PORT": str(port),
        "TICKWIRE_EMBEDDED_MQTT_PORT": str(free_port()),
        "TICKWIRE_EMBEDDED_MQTTS_PORT": str(free_port()),
        "TICKWIRE_ADMIN_EMAIL": "soak@example.com",
        "TICKWIRE_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        "TICKWIRE_SIM_DEVICES": str(sizes.devices),
        "TICKWIRE_SIM_TICKERS": "4",
        "TICKWIRE_SIM_INTERVAL_S": "1",
        "TICKWIRE_SIM_DROP_EVERY": "0",
        "TICKWIRE_SIM_DURATION_S": str(sizes.seconds),
        "TICKWIRE_SIM_SEED": str(seed),
        "TICKWIRE_SIM_PREFIX": PREFIX,
    }
    with service("devstack", env, workdir / "stack.log", signal.SIGINT, 120) as root:
        stack = Stack(root, workdir, f"http://127.0.0.1:{port}")
        wait_for(lambda: healthy(stack), 300, "the stack answering /health")
        wait_for(lambda: CONNECTED.search(stack.text()), 600, "the fleet connecting")
        started = time.monotonic()
        actions = chaos(stack, random.Random(seed), lambda: summary(stack) is not None)
        chaos_s = time.monotonic() - started
        counted = summary(stack)
        assert counted is not None
        published, unconfirmed = counted
        wait_for(lambda: healthy(stack), 120, "the stack recovering")
        database_url = embedded_database_url(workdir / "data" / "pg")
        result = asyncio.run(tally(database_url, 2 * (published - unconfirmed)))
        restarts = len(re.findall(r"devstack\.supervisor: .* restarting it", stack.text()))
    acked = published - unconfirmed
    return {
        "bench": "soak",
        "devices": sizes.devices,
        "seconds": sizes.seconds,
        "seed": seed,
        "chaos_s": round(chaos_s, 1),
        "actions": dict(actions),
        "restarts": restarts,
        "published": published,
        "unconfirmed": unconfirmed,
        "readings": result["readings"],
        "rows": result["rows"],
        "lost": max(0, acked - result["readings"]),
        "extra": max(0, result["readings"] - acked),
        "dup": result["rows"] - result["keys"],
        "rollup_mismatches": len(result["mismatches"]),
        "offline_alerts": result["offline_raised"],
        "stale_alerts": result["stale"],
    }


def table(f: dict[str, Any]) -> str:
    lines = [
        f"{f['devices']} devices × 1 reading/s × {f['seconds']:g} s, chaos for {f['chaos_s']:g} s "
        f"(seed {f['seed']}): "
        + ", ".join(f"{name} ×{n}" for name, n in sorted(f["actions"].items())),
        f"{'restarts by the supervisor':<34}{f['restarts']:>10}",
        f"{'published (acked by broker)':<34}{f['published'] - f['unconfirmed']:>10}",
        f"{'unconfirmed at exit':<34}{f['unconfirmed']:>10}",
        f"{'readings in the database':<34}{f['readings']:>10}",
        f"{'lost':<34}{f['lost']:>10}",
        f"{'duplicates':<34}{f['dup']:>10}",
        f"{'rollup buckets ≠ raw':<34}{f['rollup_mismatches']:>10}",
        f"{'OFFLINE alerts raised / stale':<34}{f['offline_alerts']:>5} /{f['stale_alerts']:>3}",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seed", type=int, default=11, help="chaos and readings (11)")
    sizes, args = fleet_options(parser, argv, FULL, QUICK)
    setup_logging("bench", "INFO")
    fields = run(sizes, args.seed)
    print(table(fields))
    print(json_line(fields), flush=True)
    bad = fields["lost"] or fields["dup"] or fields["rollup_mismatches"] or fields["stale_alerts"]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
