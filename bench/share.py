"""Several ingesters on one MQTT shared subscription: does a second ingester add throughput?

`python -m bench.share [--quick] [--rounds R] [--messages N] [--batch-messages N]
[--server-url URL]`

One Mosquitto and one PostgreSQL (embedded unless `--server-url`) serve the run. Each scenario
gets a fresh migrated database and N persistent sessions on the share group
`$share/<a new group>/…` (N = 1, then 2), primed and left; the workload is then published with QoS 1
(the broker spreads it over the group's sessions as it arrives); then N `python -m ingest`
processes (`TICKWIRE_INGEST_SHARE=bench`, alerts off) are started together and timed from the
earliest `ingest_status.started_at` to the poll (every 20 ms) that sees the sum of their
`committed_rows` reach the expected rows. Two workloads: single-reading messages (500 devices)
and 100-reading batch payloads. Rounds are interleaved (1, 2, 1, 2…); the table shows each
scenario's median round; lost and dup are counted in the database (all rounds added up).

On a 2-core machine the ingesters share the cores with PostgreSQL, Mosquitto and each other:
the ratio 2 / 1 says how much of one ingester's time was its own work that a second process can
take over, not how a deployment with a core per ingester scales.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from bench.publisher import publish
from bench.report import Result, json_line, median, table
from bench.sessions import Session, prime
from bench.stack import Stack, checkpoint, fresh_database, stack
from bench.tally import tally_telemetry
from bench.workload import Workload, batch_readings, single_readings
from ingest.settings import IngestSettings
from tests.process_support import service
from tickwire.contract import SUBSCRIPTIONS
from tickwire.logs import setup_logging

log = logging.getLogger("bench.share")


def drain(servers: Stack, workload: Workload, ingesters: int, name: str) -> Result:
    """`ingesters` ingesters on one share group draining `workload` from their sessions."""
    settings = IngestSettings()
    # A group of its own: the sessions of earlier scenarios are still members of theirs.
    group = f"bench{uuid.uuid4().hex[:8]}"
    topics = tuple(f"$share/{group}/{topic}" for topic in SUBSCRIPTIONS)
    ids = [f"bench-{name}-{group}-{n}" for n in range(ingesters)]
    with fresh_database(servers.server_url, f"share_{uuid.uuid4().hex[:12]}") as url:
        for client_id in ids:
            prime(
                Session(
                    servers.broker_url,
                    client_id,
                    settings.ingest_receive_maximum,
                    settings.ingest_session_expiry_s,
                ),
                topics=topics,
            )
        seconds = publish(servers.broker_url, workload.messages)
        log.info("%s: %d messages queued in %.1fs", name, len(workload.messages), seconds)
        checkpoint(servers.server_url)
        with _ingesters(servers, url, ids, group) as started:
            took = _watch(url, len(workload.keys), started)
        tally = tally_telemetry(url, workload.keys)
    label = f"{name}: {ingesters} ingester{'s' if ingesters > 1 else ''}"
    return Result(label, len(workload.messages), tally.rows, took, tally.lost, tally.dup)


@contextlib.contextmanager
def _ingesters(servers: Stack, url: str, ids: list[str], group: str) -> Iterator[float]:
    with contextlib.ExitStack() as children:
        for client_id in ids:
            env = dict(
                TICKWIRE_DATABASE_URL=url,
                TICKWIRE_MQTT_URL=servers.broker_url,
                TICKWIRE_MQTT_PROTOCOL="5",
                TICKWIRE_INGEST_CLIENT_ID=client_id,
                TICKWIRE_INGEST_INSTANCE=client_id,
                TICKWIRE_INGEST_SHARE=group,
                TICKWIRE_ALERTS_ENABLED="false",
                TICKWIRE_DATA_DIR=str(servers.workdir),
            )
            children.enter_context(service("ingest", env, servers.workdir / f"{client_id}.log"))
        yield time.time()


def _watch(url: str, expected_rows: int, launched: float, stall_s: float = 15.0) -> float:
    """Seconds from the earliest ingester's start to all rows committed (or a stall)."""
    committed, moved = 0, time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() - moved < stall_s:
            row = conn.execute(
                "SELECT min(extract(epoch FROM started_at))::float8, sum(committed_rows)::int8"
                " FROM ingest_status"
            ).fetchone()
            now = time.time()
            if row is not None and row[0] is not None:
                if row[1] != committed:
                    committed, moved = row[1], time.monotonic()
                if committed >= expected_rows:
                    return now - float(row[0])
            time.sleep(0.02)
    log.warning("stalled at %d of %d rows", committed, expected_rows)
    return time.time() - launched


def run(messages: int, batch_messages: int, rounds: int, server_url: str | None) -> int:
    singles = single_readings(messages, 500)
    batches = batch_readings(batch_messages, 100, 100)
    done: dict[tuple[str, int], list[Result]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="tickwire-bench-") as tmp,
        stack(Path(tmp), server_url) as servers,
    ):
        for number in range(1, rounds + 1):
            log.info("round %d of %d", number, rounds)
            for name, workload in (("single", singles), ("batch", batches)):
                for ingesters in (1, 2):
                    result = drain(servers, workload, ingesters, name)
                    log.info("%s: %.0f msgs/s", result.scenario, result.msgs_s)
                    done.setdefault((name, ingesters), []).append(result)
    medians = {key: median(results) for key, results in done.items()}
    print(table(list(medians.values())))
    fields: dict[str, object] = {"bench": "share", "rounds": rounds}
    for name in ("single", "batch"):
        one, two = medians[(name, 1)], medians[(name, 2)]
        ratios = [
            b.msgs_s / a.msgs_s for a, b in zip(done[(name, 1)], done[(name, 2)], strict=True)
        ]
        fields[f"{name}_1_msgs_s"] = round(one.msgs_s)
        fields[f"{name}_2_msgs_s"] = round(two.msgs_s)
        fields[f"{name}_2_over_1"] = round(two.msgs_s / one.msgs_s, 2)
        fields[f"{name}_ratio_spread"] = [round(min(ratios), 2), round(max(ratios), 2)]
        print(
            f"{name}: 2 ingesters / 1 = {two.msgs_s / one.msgs_s:.2f} (median rounds; per-round "
            f"{min(ratios):.2f}–{max(ratios):.2f}, mean {statistics.mean(ratios):.2f})"
        )
    lost = sum(r.lost for r in medians.values())
    dup = sum(r.dup for r in medians.values())
    fields.update(lost=lost, dup=dup)
    print(json_line(fields))
    return 1 if lost or dup else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.share", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--messages", type=int, default=40_000, help="single-reading messages")
    parser.add_argument("--batch-messages", type=int, default=1_000, help="100-reading messages")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    parser.add_argument("--server-url", help="use this PostgreSQL server, not an embedded one")
    args = parser.parse_args(argv)
    setup_logging("bench", "INFO")
    if args.quick:
        args.messages, args.batch_messages, args.rounds = 2_000, 50, 1
    return run(args.messages, args.batch_messages, args.rounds, args.server_url)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
