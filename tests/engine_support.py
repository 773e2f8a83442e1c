"""The alert engine as processes (`python -m ingest --alerts-only`) and a workload on a clock:
the failover tests' parts. Readings carry their schedule's timestamps (step × `STEP_MS` after
the start), each published once its time has come, so a rule's duration is counted on exact
reading times however slow the machine is."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from tests.process_support import REPO
from tests.support import Message, publish, wait_until

STEP_MS = 500


def spawn_engine(database_url: str, name: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """`python -m ingest --alerts-only` named `name` (its `ingest_instance`)."""
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", "--alerts-only"],
        cwd=REPO,
        env={
            **os.environ,
            "TICKWIRE_DATABASE_URL": database_url,
            "TICKWIRE_INGEST_INSTANCE": name,
            **env,
        },
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def leader(db: asyncpg.Connection) -> str | None:
    leading: str | None = await db.fetchval("SELECT leader FROM alert_engine")
    return leading


async def wait_leader(db: asyncpg.Connection, name: str, timeout: float = 60) -> None:
    async def leads() -> bool:
        return await leader(db) == name

    await wait_until(f"{name} leads the alert engine", leads, timeout, interval=0.1)


def stop(*processes: subprocess.Popen[bytes] | None) -> None:
    for process in processes:
        if process is not None and process.poll() is None:
            process.terminate()
    for process in processes:
        if process is None:
            continue
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Schedule:
    """Step `k` is due at start + k × STEP_MS; `messages(k, ts_ms)` are its messages."""

    def __init__(self, url: str, steps: int, messages: Callable[[int, int], list[Message]]):
        self.url, self.steps, self.messages = url, steps, messages
        self.start_ms = int(time.time() * 1000) + 500
        self.step = -1
        """The last step published."""

    def ts(self, step: int) -> int:
        return self.start_ms + step * STEP_MS

    async def run(self) -> None:
        for step in range(self.steps):
            wait = self.ts(step) / 1000 - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            batch = self.messages(step, self.ts(step))
            if batch:
                await asyncio.to_thread(publish, self.url, batch)
            self.step = step

    async def reach(self, step: int, timeout: float = 60) -> None:
        async def reached() -> bool:
            return self.step >= step

        await wait_until(f"step {step} published", reached, timeout, interval=0.05)


async def alert_histories(db: asyncpg.Connection) -> dict[tuple[str, str], list[list[str]]]:
    """(kind, subject) → each alert's states (alert_events), oldest alert first."""
    rows = await db.fetch(
        """SELECT a.kind, a.subject, array_agg(e.state ORDER BY e.id) AS states
           FROM alerts a JOIN alert_events e ON e.alert_id = a.id
           GROUP BY a.id ORDER BY a.id"""
    )
    out: dict[tuple[str, str], list[list[str]]] = {}
    for row in rows:
        out.setdefault((row["kind"], row["subject"]), []).append(list(row["states"]))
    return out


async def streamed(db: asyncpg.Connection) -> dict[tuple[str, str], list[str]]:
    """(kind, subject) → the alert states the journal streamed, in order."""
    rows = await db.fetch(
        """SELECT data::jsonb ->> 'kind' AS kind, data::jsonb ->> 'subject' AS subject,
                  data::jsonb ->> 'state' AS state
           FROM stream_events WHERE kind = 'alert' ORDER BY id"""
    )
    out: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        out.setdefault((row["kind"], row["subject"]), []).append(row["state"])
    return out


def flat(histories: dict[Any, list[list[str]]]) -> dict[Any, list[str]]:
    return {key: [s for states in alerts for s in states] for key, alerts in histories.items()}


def log_text(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""
