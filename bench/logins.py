"""Logins under attack: login throughput, and the API's latency for other users while 20
clients hammer wrong passwords, before and after issue 14 in one run.

`python -m bench.logins [--quick] [--seconds S] [--before REF] [--server-url URL]`

Two APIs run side by side as in production (`python -m api` children, each on a fresh
database of one PostgreSQL): "before" is the tree of `--before` (default: the commit before
schema revision 0006 came, exported with `git archive`), "after" is this tree. Each goes
through the same phases, `--seconds` each (10; 3 with `--quick`):

- quiet: 4 "other users" read `GET /api/devices` back to back with their bearer tokens;
- logins: the same, while 4 clients log in with right passwords back to back (throughput);
- attack: the same, while 20 clients send wrong passwords for one account back to back;
- spray: the same, while 20 clients send wrong passwords for ever new names.

Columns: login attempts answered per second and their statuses (200 ok, 400 wrong, 429
throttled), the other users' requests per second and their latency (p50, p99). Before, each
wrong password costs the API ~0.1 s of CPU on its event loop, so everyone waits; after, an
account's 11th failure within 15 minutes, and an address's 101st, are refused before the
password is looked at, and the password is checked in a worker thread.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from bench.report import json_line
from bench.stack import fresh_database
from devstack.embedded_pg import embedded_postgres
from tests.process_support import REPO, api_process
from tickwire.logs import setup_logging

log = logging.getLogger("bench.logins")

READERS: Final = 4
LOGGERS: Final = 4
ATTACKERS: Final = 20
PHASES: Final = ("quiet", "logins", "attack", "spray")


@dataclass
class Phase:
    version: str
    name: str
    seconds: float
    statuses: Counter[int] = field(default_factory=Counter)
    """Login attempts answered, by status."""
    latencies_s: list[float] = field(default_factory=list)
    """The other users' requests."""
    reader_errors: int = 0

    @property
    def attempts_s(self) -> float:
        return sum(self.statuses.values()) / self.seconds

    @property
    def reads_s(self) -> float:
        return len(self.latencies_s) / self.seconds

    def percentile_ms(self, q: int) -> float:
        if len(self.latencies_s) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies_s, n=100)[q - 1] * 1000


@dataclass(frozen=True, slots=True)
class Users:
    """Accounts of one API: readers' tokens, loggers' (email, password), the attacked email."""

    readers: list[str]
    loggers: list[tuple[str, str]]
    victim: str


async def _register(client: httpx.AsyncClient) -> tuple[str, str]:
    email, password = f"b-{secrets.token_hex(5)}@example.com", secrets.token_urlsafe(12)
    created = await client.post("/auth/register", json={"email": email, "password": password})
    created.raise_for_status()
    return email, password


async def _users(base: str) -> Users:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        readers = []
        for _ in range(READERS):
            email, password = await _register(client)
            login = await client.post(
                "/auth/jwt/login", data={"username": email, "password": password}
            )
            readers.append(login.json()["access_token"])
        loggers = [await _register(client) for _ in range(LOGGERS)]
        victim, _ = await _register(client)
    return Users(readers, loggers, victim)


Attempt = Callable[[httpx.AsyncClient, int], Awaitable[int]]


def _attempt(phase: str, users: Users) -> tuple[int, Attempt | None]:
    """How many login clients a phase runs, and what one attempt of client `n` sends."""

    async def right(client: httpx.AsyncClient, n: int) -> int:
        email, password = users.loggers[n % LOGGERS]
        return await _login(client, email, password)

    async def wrong(client: httpx.AsyncClient, _n: int) -> int:
        return await _login(client, users.victim, secrets.token_urlsafe(9))

    async def spray(client: httpx.AsyncClient, _n: int) -> int:
        return await _login(client, f"{uuid.uuid4().hex}@example.com", "wrong password")

    kinds: dict[str, tuple[int, Attempt | None]] = {
        "quiet": (0, None),
        "logins": (LOGGERS, right),
        "attack": (ATTACKERS, wrong),
        "spray": (ATTACKERS, spray),
    }
    return kinds[phase]


async def _login(client: httpx.AsyncClient, email: str, password: str) -> int:
    response = await client.post("/auth/jwt/login", data={"username": email, "password": password})
    return response.status_code


async def _phase(base: str, version: str, name: str, users: Users, seconds: float) -> Phase:
    result = Phase(version, name, seconds)
    deadline = time.perf_counter() + seconds
    clients, attempt = _attempt(name, users)
    limits = httpx.Limits(max_connections=READERS + ATTACKERS)

    async def read(client: httpx.AsyncClient, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                response = await client.get("/api/devices", params={"limit": 10}, headers=headers)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            result.latencies_s.append(time.perf_counter() - started)
            result.reader_errors += not ok

    async def hammer(client: httpx.AsyncClient, n: int) -> None:
        assert attempt is not None
        while time.perf_counter() < deadline:
            try:
                result.statuses[await attempt(client, n)] += 1
            except httpx.HTTPError:
                result.statuses[0] += 1

    async with (
        httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client,
        asyncio.TaskGroup() as group,
    ):
        for token in users.readers:
            group.create_task(read(client, token))
        for n in range(clients):
            group.create_task(hammer(client, n))
    log.info(
        "%s %s: %.1f logins/s %s, reads %.0f/s p99 %.0f ms",
        *(version, name, result.attempts_s, dict(result.statuses), result.reads_s),
        result.percentile_ms(99),
    )
    return result


def before_commit(ref: str | None) -> str:
    """`ref`, or the parent of the commit that added schema revision 0006."""
    if ref is None:
        added = _git("log", "-n1", "--format=%H", "--diff-filter=A", "--", "sql/0006_sessions.sql")
        ref = f"{added}^" if added else "HEAD"
    return _git("rev-parse", ref)


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def export_tree(commit: str, into: Path) -> Path:
    """The files of `commit` under `into` (git archive: the repository is left as it is)."""
    archive = into / "before.tar"
    _git("archive", "--format=tar", "-o", str(archive), commit)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def run(seconds: float, before: str, server_url: str | None) -> list[Phase]:
    """Both APIs up at once; the phases interleaved (before, after, before, …)."""
    with tempfile.TemporaryDirectory(prefix="tickwire-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        if server_url is None:
            log.info("starting an embedded PostgreSQL")
            server_url = stack.enter_context(embedded_postgres(workdir / "pg", "postgres"))
        sources = {"before": export_tree(before, workdir), "after": REPO}
        bases: dict[str, str] = {}
        for version, source in sources.items():
            url = stack.enter_context(fresh_database(server_url, f"logins_{version}"))
            (workdir / version).mkdir()
            base, _, _ = stack.enter_context(api_process(url, workdir / version, source=source))
            bases[version] = base
        return asyncio.run(_phases(bases, seconds))


async def _phases(bases: dict[str, str], seconds: float) -> list[Phase]:
    users = {version: await _users(base) for version, base in bases.items()}
    results = []
    for name in PHASES:
        for version, base in bases.items():
            results.append(await _phase(base, version, name, users[version], seconds))
    return results


def table(results: list[Phase]) -> str:
    header = (
        f"{'api':<8}{'phase':<8}{'logins/s':>9}{'200':>6}{'400':>6}{'429':>6}{'other':>6}"
        f"{'reads/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'failed':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in sorted(results, key=lambda r: (PHASES.index(r.name), r.version != "before")):
        s = r.statuses
        other = sum(n for status, n in s.items() if status not in (200, 400, 429))
        lines.append(
            f"{r.version:<8}{r.name:<8}{r.attempts_s:>9.1f}{s[200]:>6}{s[400]:>6}{s[429]:>6}"
            f"{other:>6}{r.reads_s:>9.0f}{r.percentile_ms(50):>8.1f}{r.percentile_ms(99):>8.1f}"
            f"{r.reader_errors:>7}"
        )
    lines.append(
        "other: logins answered otherwise (503: the database wait timed out) or not at all"
    )
    lines.append("failed: the other users' reads not answered 200")
    return "\n".join(lines)


def summary(results: list[Phase], before: str) -> dict[str, object]:
    fields: dict[str, object] = {"bench": "logins", "before": before[:12]}
    for r in results:
        key = f"{r.version}_{r.name}"
        fields[f"{key}_logins_s"] = round(r.attempts_s, 1)
        fields[f"{key}_reads_s"] = round(r.reads_s)
        fields[f"{key}_p99_ms"] = round(r.percentile_ms(99), 1)
    return fields


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.logins", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, help="per phase and API (default 10)")
    parser.add_argument("--before", help="the commit to compare with (default: before 0006)")
    parser.add_argument("--quick", action="store_true", help="3 s phases: CI smoke")
    parser.add_argument("--server-url", help="use this PostgreSQL server, not an embedded one")
    args = parser.parse_args(argv)
    setup_logging("bench", "INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    before = before_commit(args.before)
    results = run(seconds, before, args.server_url)
    print(table(results))
    print(json_line(summary(results, before)), flush=True)
    errors = sum(r.reader_errors for r in results if r.version == "after")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
