"""Notifications: alert change → webhook received latency, and what the outbox adds to an
alert change's transaction.

`python -m bench.notify [--quick] [--changes N] [--messages N] [--rounds R] [--server-url URL]`
`python -m bench.notify --api-url URL --admin-password P [--mqtt-url URL]`: the latency on a
running `make up` stack instead (bench/notify_stack.py)

One PostgreSQL (embedded unless `--server-url`), a fresh database, the notifier as production
runs it (`python -m notify`, a child process, 4 senders) and three webhook channels of one
user on real HTTP receivers on 127.0.0.1: two answer 200 at once, the third is a black hole
(accepts the request, never answers: each attempt holds a sender until its 10 s timeout).

- latency: `--changes` alerts raised one after another (10 ms apart), each in its own
  committed transaction as the alert engine makes them; from the commit to the receipt at
  each answering receiver (p50, p99, max);
- change cost: the same raise-and-clear transactions timed back to back with no channel (no
  outbox row is written) and with the three channels (an outbox row per change), side by
  side, as the ratio the alert engine pays;
- ingest (bench/notify_ingest.py): the real ingester and broker draining HIGH_TEMP-raising
  telemetry with no channel and with the three channels and the notifier, interleaved rounds
  on fresh databases: msgs/s and their ratio, and change → webhook latency on that run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from api.settings import DEFAULT_ADMIN_EMAIL
from bench import notify_ingest, notify_stack
from bench.notify_ingest import percentile
from bench.report import json_line
from bench.stack import fresh_database
from bench.stack import stack as bench_stack
from tests.notify_support import Receiver, receiver
from tests.process_support import service
from tests.support import wait_until
from tickwire import alert_changes
from tickwire.alert_changes import NewAlert
from tickwire.logs import setup_logging

log = logging.getLogger("bench.notify")
SECRET = "bench-secret-0123456789"
SIZES = notify_ingest.Sizes(messages=60_000, devices=100, period=50)
QUICK = notify_ingest.Sizes(messages=2_000, devices=50, period=5)


async def change(conn: asyncpg.Connection, device: str) -> tuple[int, float]:
    """Raise an alert on `device` (its own transaction); its id and the commit's time."""
    async with alert_changes.transaction(conn) as changes:
        new = NewAlert("HIGH_TEMP", None, device, None, "warning", "bench", 31.0)
        row = await changes.raise_alert(new)
    assert row is not None, f"an alert is open on {device} already"
    return int(row["id"]), time.monotonic()


async def change_cost(conn: asyncpg.Connection, n: int) -> float:
    """Mean ms of a raise + clear transaction pair, `n` times."""
    started = time.perf_counter()
    for _ in range(n):
        alert_id, _ = await change(conn, "cost-dev")
        async with alert_changes.transaction(conn) as changes:
            await changes.clear("id = $1", alert_id, detail="bench")
    return (time.perf_counter() - started) * 1000 / n


async def setup(conn: asyncpg.Connection, changes: int) -> uuid.UUID:
    user = uuid.uuid4()
    await conn.execute(
        "INSERT INTO users (id, email, hashed_password) VALUES ($1, 'bench@example.com', 'x')",
        user,
    )
    await conn.execute(
        """INSERT INTO devices (device_id, name, owner_id)
           SELECT 'b' || n, 'b' || n, $1 FROM generate_series(0, $2) n""",
        user,
        changes,
    )
    await conn.execute(
        """INSERT INTO devices (device_id, name, owner_id)
           VALUES ('cost-dev', 'c', $1), ('warm-up', 'w', $1)""",
        user,
    )
    return user


async def add_channels(conn: asyncpg.Connection, user: uuid.UUID, urls: list[str]) -> None:
    for url in urls:
        await conn.execute(
            """INSERT INTO notification_channels (owner_id, name, kind, url, secret)
               VALUES ($1, 'bench', 'webhook', $2, $3)""",
            user,
            url,
            SECRET,
        )


async def measure(url: str, changes: int, hooks: list[Receiver], workdir: Path) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        user = await setup(conn, changes)
        await change_cost(conn, changes)  # warm-up: caches, plans
        without, with_ = [], []
        for _ in range(3):  # interleaved: the machine's load hits both alike
            await conn.execute("DELETE FROM notification_channels")
            without.append(await change_cost(conn, changes))
            await add_channels(conn, user, [h.url for h in hooks])
            with_.append(await change_cost(conn, changes))
        cost_without, cost_with = statistics.median(without), statistics.median(with_)
        await conn.execute("DELETE FROM notification_outbox")
        env = {
            "TICKWIRE_DATABASE_URL": url,
            "TICKWIRE_DATA_DIR": str(workdir),
            "TICKWIRE_WEBHOOK_ALLOW_PRIVATE": "true",
            "TICKWIRE_NOTIFY_TIMEOUT_S": "10",
        }
        with service("notify", env, workdir / "notify.log"):
            await change(conn, "warm-up")  # the notifier is up once this one arrives
            await wait_until("the warm-up", lambda: _got(hooks[:2], 1), 60)
            committed: dict[int, float] = {}
            for n in range(changes):
                alert_id, at = await change(conn, f"b{n}")
                committed[alert_id] = at
                await asyncio.sleep(0.01)
            await wait_until("every change", lambda: _got(hooks[:2], changes + 1), 120)
    finally:
        await conn.close()
    latencies = []
    for hook in hooks[:2]:
        for got in hook.got:
            alert_id = orjson.loads(got.body)["alert"]["id"]
            if alert_id in committed:
                latencies.append((got.at - committed[alert_id]) * 1000)
    return {
        "bench": "notify",
        "changes": changes,
        "received": len(latencies),
        "expected": 2 * changes,
        "latency_p50_ms": round(percentile(latencies, 50), 1),
        "latency_p99_ms": round(percentile(latencies, 99), 1),
        "latency_max_ms": round(max(latencies, default=float("nan")), 1),
        "change_ms_no_channel": round(cost_without, 3),
        "change_ms_3_channels": round(cost_with, 3),
        "change_cost_ratio": round(cost_with / cost_without, 2),
        "black_hole_attempts": len(hooks[2].got),
    }


def run(
    changes: int, sizes: notify_ingest.Sizes, rounds: int, server_url: str | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tickwire-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        servers = stack.enter_context(bench_stack(workdir, server_url))
        hooks = [
            stack.enter_context(receiver()),
            stack.enter_context(receiver()),
            stack.enter_context(receiver(["hang"] * 100_000)),
        ]
        with fresh_database(servers.server_url, "notify_bench") as url:
            summary = asyncio.run(measure(url, changes, hooks, workdir))
        return summary | notify_ingest.run_rounds(servers, sizes, rounds, hooks)


async def _got(hooks: list[Receiver], n: int) -> bool:
    return all(len(h.got) >= n for h in hooks)


def table(s: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"{'what':<44}{'value':>12}",
            "-" * 56,
            f"{'changes raised (each to 2 answering + 1 black hole)':<44}{s['changes']:>12}",
            f"{'received by the answering receivers':<44}{s['received']:>12} / {s['expected']}",
            f"{'commit → received p50 (ms)':<44}{s['latency_p50_ms']:>12}",
            f"{'commit → received p99 (ms)':<44}{s['latency_p99_ms']:>12}",
            f"{'commit → received max (ms)':<44}{s['latency_max_ms']:>12}",
            f"{'raise+clear, no channel (ms)':<44}{s['change_ms_no_channel']:>12}",
            f"{'raise+clear, 3 channels: outbox rows (ms)':<44}{s['change_ms_3_channels']:>12}",
            f"{'ratio (with / without)':<44}{s['change_cost_ratio']:>12}",
            f"{'attempts the black hole got':<44}{s['black_hole_attempts']:>12}",
            "",
            f"ingest of {s['ingest_messages']} messages ({s['ingest_devices']} devices, HIGH_TEMP"
            f" raised and cleared), {s['ingest_rounds']} interleaved rounds:",
            f"{'round':<8}{'no channel msgs/s':>20}{'3 channels msgs/s':>20}{'ratio':>8}"
            f"{'changes':>10}",
            *(
                f"{n + 1:<8}{a:>20}{b:>20}{r:>8}{c:>10}"
                for n, (a, b, r, c) in enumerate(
                    zip(
                        s["ingest_msgs_s_no_channel"],
                        s["ingest_msgs_s_3_channels"],
                        s["ingest_ratio"],
                        s["ingest_alert_changes"][s["ingest_rounds"] :],
                        strict=True,
                    )
                )
            ),
            f"{'ratio 3 channels / none: median (spread)':<44}"
            f"{s['ingest_ratio_median']:>12} ({s['ingest_ratio_spread']})",
            f"{'alert changes per run (expected)':<44}{s['ingest_alert_changes_expected']:>12}",
            f"{'change → webhook received p50 (ms)':<44}{s['ingest_latency_p50_ms']:>12}",
            f"{'change → webhook received p99 (ms)':<44}{s['ingest_latency_p99_ms']:>12}",
            f"{'change → webhook received max (ms)':<44}{s['ingest_latency_max_ms']:>12}",
            f"{'receipts timed (2 answering × changes × rounds)':<44}"
            f"{s['ingest_latency_received']:>12}",
            f"{'lost / dup (telemetry + deliveries, all runs)':<44}"
            f"{s['ingest_lost']:>8} / {s['ingest_dup']}",
        ]
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notify")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--changes", type=int, default=None)
    parser.add_argument("--server-url", default=None)
    parser.add_argument("--messages", type=int, help="telemetry messages of each ingest run")
    parser.add_argument("--rounds", type=int, help="rounds of the ingest pair (default 3)")
    parser.add_argument(
        "--api-url",
        help="measure only the latency, on this running `make up` stack (bench/notify_stack.py)",
    )
    parser.add_argument("--admin-email", default=DEFAULT_ADMIN_EMAIL)
    parser.add_argument("--admin-password", help="the stack's admin password (with --api-url)")
    parser.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883", help="the stack's broker")
    parser.add_argument(
        "--spacing", type=float, default=0.2, help="s between readings (with --api-url)"
    )
    args = parser.parse_args(argv)
    setup_logging("bench", "INFO")
    if args.api_url:
        if not args.admin_password:
            parser.error("--api-url needs --admin-password")
        changes = args.changes or (20 if args.quick else 200)
        found = notify_stack.run(
            args.api_url,
            args.admin_email,
            args.admin_password,
            args.mqtt_url,
            changes,
            args.spacing,
        )
        print(notify_stack.table(found))
        print(json_line({"bench": "notify_stack", **found}))
        ok = found["stack_received"] == found["stack_expected"] and not found["stack_dup"]
        return 0 if ok else 1
    changes = args.changes or (100 if args.quick else 500)
    sizes = QUICK if args.quick else SIZES
    if args.messages:
        sizes = notify_ingest.Sizes(args.messages, sizes.devices, sizes.period)
    rounds = args.rounds or (1 if args.quick else 3)
    summary = run(changes, sizes, rounds, args.server_url)
    print(table(summary))
    print(json_line(summary))
    ok = summary["received"] == summary["expected"]
    return 0 if ok and not summary["ingest_lost"] and not summary["ingest_dup"] else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
