"""Live stream latency: MQTT publish → SSE receive, at 1 000 and 5 000 msg/s and fanned out.

`python -m bench.stream [--quick] [--seconds S] [--clients N] [--fan-rate R] [--server-url URL]`

The whole path runs as in production, each in its own process: Mosquitto, PostgreSQL
(embedded unless `--server-url`), `python -m ingest`, `python -m api` (uvicorn), and a
publisher (paho, QoS 1, paced every 2 ms) sending price ticks round-robin over 100 tickers
with `ts` = the publish time in epoch milliseconds. SSE clients (raw HTTP/1.0 sockets,
asyncio, in this process) record each event's id and the wall-clock time its bytes arrived;
afterwards the journal (`stream_events`) gives every event's ticks, so each tick received by
each client is one latency sample: arrival − ts (same machine, same clock; ts is truncated to
the millisecond). The first second of each run is a warm-up and not counted.

Scenarios: one client at 1 000 and at 5 000 msg/s (`--seconds` each, 10; 3 with `--quick`),
then `--clients` clients (500; 50 with `--quick`) at `--fan-rate` msg/s (200). For the
fan-out, the API process's RSS is taken before the clients connect and at its peak (sampled
every 20 ms, and the kernel's VmHWM reset just before).

`received` counts ticks delivered to all clients against those published × clients: a tick
missing from a client fails the run (exit status 1). The latency targets (p50 < 50 ms and
p99 < 250 ms at 5 000 msg/s; p99 < 500 ms with 500 clients) are reported, not enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Final

import orjson
import psutil
import psycopg

from bench.ingester import PeakRss
from bench.report import json_line
from bench.sse import SseClient, connect
from bench.stack import fresh_database, stack
from bench.stream_feed import TICKERS, ingester_process, publish_at_rate
from tests.process_support import api_process
from tickwire.logs import setup_logging

log = logging.getLogger("bench.stream")

WARM_UP_S: Final = 1.0
TARGETS: Final = {"p50_5000_ms": 50.0, "p99_5000_ms": 250.0, "p99_fanout_ms": 500.0}


@dataclass(frozen=True, slots=True)
class Sizes:
    seconds: float = 10.0
    clients: int = 500
    fan_rate: int = 200


QUICK = Sizes(seconds=3.0, clients=50, fan_rate=200)


@dataclass(frozen=True, slots=True)
class Run:
    """One scenario: what was published, what the clients got, and how late."""

    label: str
    clients: int
    rate: int
    published: int
    received: int
    expected: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    rss_before_mb: float | None = None
    rss_peak_mb: float | None = None


async def _open_clients(base: str, token: str, count: int) -> list[SseClient]:
    host, port = base.removeprefix("http://").split(":")
    query = "tickers=" + ",".join(TICKERS)
    clients: list[SseClient] = []
    for start in range(0, count, 50):  # in groups: no connection storm on the accept queue
        group = [connect(host, int(port), token, query) for _ in range(min(50, count - start))]
        clients += await asyncio.gather(*group)
    return clients


async def _measure(
    stack_urls: tuple[str, str], base: str, token: str, rate: int, seconds: float, count: int
) -> tuple[list[SseClient], int, float, int]:
    """Clients listen while the publisher runs; returns them, the ticks published, the
    publish start (epoch s) and the journal position the clients were waited for."""
    database_url, broker_url = stack_urls
    clients = await _open_clients(base, token, count)
    listeners = [asyncio.create_task(c.listen()) for c in clients]
    done: multiprocessing.Queue[int] = multiprocessing.get_context("spawn").Queue()
    publisher = multiprocessing.get_context("spawn").Process(
        target=publish_at_rate, args=(broker_url, rate, seconds, done)
    )
    started = time.time()
    publisher.start()
    published = await asyncio.to_thread(done.get, True, seconds + 120)
    await asyncio.to_thread(publisher.join, 30)
    last = await asyncio.to_thread(_settled_position, database_url, started, published)
    with contextlib.suppress(TimeoutError):  # a client still short of it: counted missing
        await asyncio.wait_for(asyncio.gather(*(c.reach(last) for c in clients)), 30)
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    await asyncio.gather(*(c.close() for c in clients))
    return clients, published, started, last


def _settled_position(database_url: str, since: float, published: int) -> int:
    """Wait until every published tick is stored; the journal's newest id then."""
    deadline = time.monotonic() + 60
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            stored = conn.execute(
                "SELECT count(*) FROM prices WHERE ticker LIKE 'BS%%' AND time >= to_timestamp(%s)",
                (since - 1,),
            ).fetchone()
            if stored and stored[0] >= published:
                break
            time.sleep(0.05)
        row = conn.execute("SELECT last_id FROM stream_state").fetchone()
    return int(row[0]) if row else 0


def _ticks(database_url: str, after_ms: float) -> dict[int, list[float]]:
    """Event id → the publish times (epoch ms) of the bench ticks it carried."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, data FROM stream_events WHERE kind = 'price' AND subject LIKE 'BS%'"
        ).fetchall()
    ticks: dict[int, list[float]] = {}
    for event_id, data in rows:
        times = [
            datetime.fromisoformat(t["time"]).timestamp() * 1000
            for t in orjson.loads(data)["ticks"]
        ]
        ticks[event_id] = [t for t in times if t >= after_ms]
    return ticks


def _summarize(
    label: str, rate: int, database_url: str, measured: tuple[list[SseClient], int, float, int]
) -> Run:
    clients, published, started, _last = measured
    warm = (started + WARM_UP_S) * 1000
    ticks = _ticks(database_url, started * 1000)
    latencies: list[float] = []
    received = 0
    for client in clients:
        for event_id, arrived in client.arrivals:
            sent = ticks.get(event_id, [])
            received += len(sent)
            latencies += [arrived * 1000 - t for t in sent if t >= warm]
    latencies.sort()
    expected = sum(len(t) for t in ticks.values()) * len(clients)
    return Run(
        label,
        len(clients),
        rate,
        published,
        received,
        expected,
        _pct(latencies, 0.50),
        _pct(latencies, 0.99),
        latencies[-1] if latencies else float("nan"),
    )


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def run(sizes: Sizes, server_url: str | None) -> list[Run]:
    with tempfile.TemporaryDirectory(prefix="tickwire-bench-") as tmp, ExitStack() as stack_:
        workdir = Path(tmp)
        servers = stack_.enter_context(stack(workdir, server_url))
        url = stack_.enter_context(
            fresh_database(servers.server_url, f"stream_{uuid.uuid4().hex[:8]}")
        )
        with psycopg.connect(url, autocommit=True) as conn:
            for ticker in TICKERS:
                conn.execute("INSERT INTO stocks (ticker) VALUES (%s)", (ticker,))
        base, pid, token = stack_.enter_context(api_process(url, workdir))
        stack_.enter_context(ingester_process(url, servers.broker_url, workdir))
        urls = (url, servers.broker_url)
        runs: list[Run] = []
        for rate in (1000, 5000):
            measured = asyncio.run(_measure(urls, base, token, rate, sizes.seconds, 1))
            runs.append(
                _summarize(f"{rate:,} msg/s, 1 client".replace(",", " ", 1), rate, url, measured)
            )
            log.info("%s", runs[-1])
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := RSS now (Linux ≥ 4.0)
        before = psutil.Process(pid).memory_info().rss / 2**20
        peak = PeakRss(pid)
        peak.start()
        measured = asyncio.run(
            _measure(urls, base, token, sizes.fan_rate, sizes.seconds, sizes.clients)
        )
        top = peak.stop() / 2**20
        label = f"fan-out, {sizes.clients} clients"
        fan = _summarize(label, sizes.fan_rate, url, measured)
        runs.append(replace(fan, rss_before_mb=before, rss_peak_mb=top))
        log.info("%s", runs[-1])
    return runs


def table(runs: list[Run]) -> str:
    header = (
        f"{'scenario':<26}{'clients':>8}{'msgs/s':>8}{'published':>11}{'received':>18}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  API RSS"
    )
    lines = [header, "-" * (len(header) + 14)]
    for r in runs:
        lines.append(
            f"{r.label:<26}{r.clients:>8}{r.rate:>8}{r.published:>11}"
            f"{f'{r.received}/{r.expected}':>18}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.max_ms:>9.1f}"
            f"  {_rss(r)}"
        )
    return "\n".join(lines)


def _rss(run: Run) -> str:
    if run.rss_before_mb is None or run.rss_peak_mb is None:
        return "–"
    return f"{run.rss_before_mb:.0f} → {run.rss_peak_mb:.0f} MB"


def summary(runs: list[Run]) -> dict[str, object]:
    slow, fast, fan = runs
    fields: dict[str, object] = {
        "bench": "stream",
        "p50_1000_ms": round(slow.p50_ms, 1),
        "p99_1000_ms": round(slow.p99_ms, 1),
        "p50_5000_ms": round(fast.p50_ms, 1),
        "p99_5000_ms": round(fast.p99_ms, 1),
        "fanout_clients": fan.clients,
        "p50_fanout_ms": round(fan.p50_ms, 1),
        "p99_fanout_ms": round(fan.p99_ms, 1),
        "fanout_api_rss_before_mb": round(fan.rss_before_mb or 0, 1),
        "fanout_api_rss_peak_mb": round(fan.rss_peak_mb or 0, 1),
        "complete": all(r.received == r.expected for r in runs),
    }
    fields["targets_met"] = all(float(fields[k]) < v for k, v in TARGETS.items())  # type: ignore[arg-type]
    return fields


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stream", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, help="publishing time per scenario (10)")
    parser.add_argument("--clients", type=int, help="clients of the fan-out (500)")
    parser.add_argument("--fan-rate", type=int, help="msg/s during the fan-out (200)")
    parser.add_argument("--quick", action="store_true", help="3 s, 50 clients: CI smoke")
    parser.add_argument("--server-url", help="use this PostgreSQL server, not an embedded one")
    args = parser.parse_args(argv)
    setup_logging("bench", "INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    base = QUICK if args.quick else Sizes()
    sizes = Sizes(
        seconds=args.seconds or base.seconds,
        clients=args.clients or base.clients,
        fan_rate=args.fan_rate or base.fan_rate,
    )
    runs = run(sizes, args.server_url)
    fields = summary(runs)
    print(table(runs))
    for key, target in TARGETS.items():
        shown = f"{fields[key]} ms"
        met = "met" if float(fields[key]) < target else "MISSED"  # type: ignore[arg-type]
        print(f"{key:<16}{shown:>12}   target < {target:.0f} ms   {met}")
    print(json_line(fields), flush=True)
    return 0 if fields["complete"] else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
