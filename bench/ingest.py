"""Ingest throughput: tickwire against the broker's delivery rate and seed-style ingest.

`python -m bench.ingest [--quick] [--rounds R] [--messages N] [--batch-messages N]`
`python -m bench.ingest --devices 10,1000,10000`: the fleet curve (`bench/fleet_curve.py`)

One Mosquitto and one PostgreSQL (embedded, in a temporary directory, unless `--server-url`)
serve the whole run; every database scenario gets a fresh migrated database. Scenarios:

(a) ceiling: a bare paho MQTT v5 subscriber, QoS 1, the ingester's receive maximum, manual
    ack on receipt, doing nothing else.
(b) tickwire end to end: the real `python -m ingest` in a child process.
(c) seed-style: a bare paho subscriber that json-parses each message, runs one INSERT and one
    commit (psycopg), then acks. Slow, so it gets the first `--naive-messages` only.
(d) tickwire with store-and-forward batch payloads of 100 readings per message.
(e) when node and bench/mqttjs's packages are installed (`npm ci --prefix bench/mqttjs`): a
    bare mqtt.js subscriber (bench/mqttjs/drain.mjs) draining the same backlog as (a), so the
    distance from tickwire to the wire is a ratio in the same run.

Method, the same for every scenario: a backlog. The consumer's persistent session
(clean_start=False, session expiry, subscribed to the ingester's topics) is created first and
left; then the scenario's messages are published with QoS 1 (500 devices reading once a
second, unique ts per device; for (d) flushes of 100 devices) until the broker acknowledged
them all; then the consumer is started and timed until it has every message: received (a, c:
from just before CONNECT to the last message; c commits before it acks) or committed (b, d:
from the moment the ingester's `run()` began, as it records in `ingest_status.started_at`,
to the poll, every 20 ms, that sees `ingest_status.committed_rows` reach the expected row
count). Process start and imports are outside every window; the ingester's database connect
is inside its own.

Every scenario runs `--rounds` times (3; 1 with `--quick`), the four interleaved round by
round so that a noisy neighbour hits them alike; the table shows each scenario's median round.

lost = expected (device, metric, ts) keys with no row, dup = rows − distinct keys, both
counted in the database; for (a) the same by message payload. The ingester's peak RSS is
sampled (with children) every 20 ms and taken with the kernel's VmHWM.

Exit status 1 when tickwire lost or duplicated anything; the performance targets are reported,
not enforced, since machines are shared and noisy (which is also why ratios are the targets).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench import report
from bench.consumers import drain, drain_mqttjs, mqttjs_ready, seed_style
from bench.ingester import AS_IS, How, run_ingester
from bench.publisher import publish
from bench.report import Result
from bench.sessions import Session, prime
from bench.stack import Stack, checkpoint, fresh_database, stack
from bench.tally import tally_telemetry
from bench.workload import Workload, batch_readings, single_readings
from ingest.settings import IngestSettings
from tests.process_support import REPO
from tickwire.logs import setup_logging

log = logging.getLogger("bench.ingest")


@dataclass(frozen=True, slots=True)
class Sizes:
    messages: int = 50_000
    batch_messages: int = 1_000
    readings: int = 100
    naive_messages: int = 2_000
    devices: int = 500
    batch_devices: int = 100


QUICK = Sizes(messages=2_000, batch_messages=50, naive_messages=200, devices=100, batch_devices=10)


class IngestBench:
    """The four scenarios on one stack; the ingester's flow control comes from `settings`."""

    def __init__(self, servers: Stack, settings: IngestSettings) -> None:
        self.servers = servers
        self.settings = settings

    def ceiling(
        self,
        workload: Workload,
        label: str = "(a) ceiling: bare paho subscriber",
        tls: bool = False,
    ) -> Result:
        session = self._backlog("ceiling", workload, tls)
        checkpoint(self.servers.server_url)
        drained = drain(session, len(workload.messages))
        return Result(
            label,
            len(workload.messages),
            None,
            drained.seconds,
            drained.lost,
            drained.dup,
        )

    def ceiling_mqttjs(self, workload: Workload) -> Result:
        """(e): the same backlog drained by a bare mqtt.js subscriber (node)."""
        session = self._backlog("mqttjs", workload)
        checkpoint(self.servers.server_url)
        drained = drain_mqttjs(session, len(workload.messages))
        label = "(e) ceiling: bare mqtt.js subscriber"
        n = len(workload.messages)
        return Result(label, n, None, drained.seconds, drained.lost, drained.dup)

    def tickwire(
        self,
        label: str,
        name: str,
        workload: Workload,
        tls: bool = False,
        how: How = AS_IS,
        warm: bool = False,
    ) -> Result:
        """`python -m ingest` draining the backlog; over the TLS listener when `tls`; `how`:
        which tree's ingester (on a database its own migrations made), and whether timed
        until the rollups hold every row; `warm`:
        the workload's devices are registered and ONLINE (just heard from) before it starts."""
        tree = None if how.tree.resolve() == REPO.resolve() else how.tree
        with fresh_database(self.servers.server_url, _unique(name), tree) as url:
            session = self._backlog(name, workload, tls)
            if warm:
                _announce(url, sorted({key[0] for key in workload.keys}))
            checkpoint(self.servers.server_url)
            log_path = self.servers.workdir / f"{session.client_id}.log"
            run = run_ingester(
                url,
                session.url,
                session.client_id,
                len(workload.keys),
                log_path,
                ca_file=session.ca_file,
                how=how,
            )
            tally = tally_telemetry(url, workload.keys)
        if tally.lost or tally.dup or tally.dead_letters or run.exit_code:
            log.warning(
                "%s: lost %d, dup %d, dead letters %d, exit code %s; the ingester's log ends:\n%s",
                name,
                tally.lost,
                tally.dup,
                tally.dead_letters,
                run.exit_code,
                _tail(log_path),
            )
        per_message = len(workload.keys) / len(workload.messages)  # rows per message
        ingester_us = server_us = None
        if run.cpu is not None:
            ingester_us = _times(run.cpu.per_row_us(run.cpu.ingester_s), per_message)
            server_us = _times(run.cpu.per_row_us(run.cpu.server_s), per_message)
        return Result(
            label,
            len(workload.messages),
            tally.rows,
            run.seconds,
            tally.lost,
            tally.dup,
            run.peak_rss_mb,
            ingester_us,
            server_us,
        )

    def naive(self, workload: Workload) -> Result:
        with (
            fresh_database(self.servers.server_url, _unique("naive")) as url,
            psycopg.connect(url) as conn,
        ):
            session = self._backlog("naive", workload)
            checkpoint(self.servers.server_url)
            drained = drain(session, len(workload.messages), seed_style(conn))
            tally = tally_telemetry(url, workload.keys)
        return Result(
            "(c) seed-style: INSERT + commit per message",
            len(workload.messages),
            tally.rows,
            drained.seconds,
            tally.lost,
            tally.dup,
        )

    def _backlog(self, name: str, workload: Workload, tls: bool = False) -> Session:
        """Prime a fresh session (on the TLS listener when `tls`), then publish the workload
        (on the plain one) while nobody consumes it."""
        servers = self.servers
        session = Session(
            servers.tls_url if tls else servers.broker_url,
            _unique(f"bench-{name}"),
            self.settings.ingest_receive_maximum,
            self.settings.ingest_session_expiry_s,
            servers.ca_file if tls else None,
        )
        prime(session)
        seconds = publish(servers.broker_url, workload.messages)
        log.info(
            "%s: %d messages queued for %s in %.1fs",
            name,
            len(workload.messages),
            session.client_id,
            seconds,
        )
        return session


def run(sizes: Sizes, rounds: int, server_url: str | None) -> dict[str, object]:
    """Every scenario `rounds` times, interleaved; print the table of median rounds and the
    targets; return the JSON line's fields."""
    singles = single_readings(sizes.messages, sizes.devices)
    naive_load = singles.head(min(sizes.naive_messages, sizes.messages))
    batches = batch_readings(sizes.batch_messages, sizes.readings, sizes.batch_devices)
    batch_label = f"(d) tickwire, {sizes.readings}-reading batch payloads"
    done: dict[str, list[Result]] = {"ceiling": [], "tickwire": [], "naive": [], "batch": []}
    mqttjs: list[Result] = []
    if not mqttjs_ready():
        log.info("no mqtt.js ceiling: `npm ci --prefix bench/mqttjs` (and node) to add it")
    with (
        tempfile.TemporaryDirectory(prefix="tickwire-bench-") as tmp,
        stack(Path(tmp), server_url) as servers,
    ):
        bench = IngestBench(servers, IngestSettings())
        for number in range(1, rounds + 1):
            log.info("round %d of %d", number, rounds)
            done["ceiling"].append(bench.ceiling(singles))
            done["tickwire"].append(bench.tickwire("(b) tickwire end to end", "tickwire", singles))
            done["naive"].append(bench.naive(naive_load))
            done["batch"].append(bench.tickwire(batch_label, "batch", batches))
            if mqttjs_ready():
                mqttjs.append(bench.ceiling_mqttjs(singles))
                _log_round(mqttjs[-1])
            for results in done.values():
                _log_round(results[-1])
    ceiling, tickwire, naive, batch = (report.median(results) for results in done.values())
    fields = report.summary(ceiling, tickwire, naive, batch)
    shown = [ceiling, tickwire, naive, batch]
    if mqttjs:
        wire = report.median(mqttjs)
        shown.append(wire)
        fields["mqttjs_msgs_s"] = round(wire.msgs_s)
        fields["ratio_to_mqttjs"] = round(tickwire.msgs_s / wire.msgs_s, 3)
        fields["paho_to_mqttjs"] = round(ceiling.msgs_s / wire.msgs_s, 3)
        fields["lost"] += wire.lost
        fields["dup"] += wire.dup
    print(report.table(shown))
    if rounds > 1:
        print(
            f"(median of {rounds} interleaved rounds per scenario; lost and dup add up all "
            "rounds, peak RSS is the highest)"
        )
    print()
    print(report.render_targets(report.targets(fields)))
    if mqttjs:
        print(
            f"tickwire / mqtt.js = {fields['ratio_to_mqttjs']:.2f}, bare paho / mqtt.js = "
            f"{fields['paho_to_mqttjs']:.2f}: the distance to the wire"
        )
    bound = fields["ceiling_msgs_s"] / fields["naive_msgs_s"]
    print(f"(ceiling / naive = {bound:.1f}: no paho-based consumer can beat naive by more here)")
    return fields


def _log_round(result: Result) -> None:
    rows_s = result.rows_s
    log.info(
        "%s: %.0f msgs/s%s in %.2fs, lost %d, dup %d",
        result.scenario,
        result.msgs_s,
        "" if rows_s is None else f", {rows_s:.0f} rows/s",
        result.seconds,
        result.lost,
        result.dup,
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--messages",
        type=int,
        help="single-reading messages for (a) and (b); with --devices, for every fleet size "
        "(50 000: 5 per device at 10 000 devices; more, with --warm: a steadier fleet)",
    )
    parser.add_argument("--batch-messages", type=int, help="batch messages for (d)")
    parser.add_argument("--naive-messages", type=int, help="messages for (c), the slow one")
    parser.add_argument("--rounds", type=int, help="rounds of every scenario (default 3)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: CI smoke")
    parser.add_argument("--server-url", help="use this PostgreSQL server, not an embedded one")
    parser.add_argument(
        "--devices",
        help="comma-separated fleet sizes (e.g. 10,1000,10000): only the fleet curve, "
        "tickwire's single-message rate per size (bench/fleet_curve.py)",
    )
    parser.add_argument(
        "--compare",
        help="with --devices: another source tree (e.g. a `git worktree` of an earlier "
        "commit) whose ingester runs the same fleets, interleaved",
    )
    parser.add_argument(
        "--warm",
        action="store_true",
        help="with --devices: a steady-state fleet, registered and ONLINE before the timed "
        "part (otherwise every device is new: first contact, registration, ONLINE events)",
    )
    args = parser.parse_args(argv)
    base = QUICK if args.quick else Sizes()
    sizes = Sizes(
        messages=args.messages or base.messages,
        batch_messages=args.batch_messages or base.batch_messages,
        readings=base.readings,
        naive_messages=args.naive_messages or base.naive_messages,
        devices=base.devices,
        batch_devices=base.batch_devices,
    )
    setup_logging("bench", "INFO")
    rounds = args.rounds or (1 if args.quick else 3)
    if args.devices:
        from bench import fleet_curve  # it imports this module

        fleets = [int(n) for n in args.devices.split(",")]
        compare = Path(args.compare).resolve() if args.compare else None
        curve = fleet_curve.run(sizes, fleets, max(1, rounds), args.server_url, compare, args.warm)
        print(report.json_line(curve), flush=True)
        return 1 if curve["lost"] or curve["dup"] else 0
    fields = run(sizes, max(1, rounds), args.server_url)
    print(report.json_line(fields), flush=True)
    return 1 if fields["lost"] or fields["dup"] else 0


def _announce(database_url: str, devices: list[str]) -> None:
    """Register `devices` as a known fleet: ONLINE, heard from now."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO devices (device_id, name, status, last_seen)
               SELECT id, id, 'ONLINE', now() FROM unnest(%s::text[]) AS id""",
            [devices],
        )


def _times(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
