"""The servers of one bench run: one PostgreSQL and one Mosquitto, a fresh database per scenario."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from devstack.broker import Mosquitto, TlsListener
from devstack.embedded_pg import embedded_postgres
from devstack.ports import free_port
from sql.migrate import upgrade
from tickwire import certs

log = logging.getLogger("bench.stack")


@dataclass(frozen=True, slots=True)
class Stack:
    server_url: str
    """A database on the server, from which scenario databases are created."""
    broker_url: str
    workdir: Path
    tls_url: str
    """The broker's TLS listener (`mqtts://`), whose certificate `ca_file` signed."""
    ca_file: Path


@contextlib.contextmanager
def stack(workdir: Path, server_url: str | None = None) -> Iterator[Stack]:
    """Start Mosquitto (plain and TLS listeners, as `make up` runs it) and (unless
    `server_url`) an embedded PostgreSQL under `workdir`."""
    tls = TlsListener(free_port(), certs.ensure(workdir / "broker" / "tls"))
    broker = Mosquitto(workdir / "broker", free_port(), tls=tls)
    broker.start()
    try:
        with contextlib.ExitStack() as servers:
            if server_url is None:
                log.info("starting an embedded PostgreSQL")
                server_url = servers.enter_context(
                    embedded_postgres(workdir / "pg", database="postgres")
                )
            yield Stack(server_url, broker.url, workdir, str(broker.tls_url), tls.files.ca_cert)
    finally:
        broker.stop()


@contextlib.contextmanager
def fresh_database(server_url: str, name: str, tree: Path | None = None) -> Iterator[str]:
    """A new database with the whole schema, dropped afterwards; yields its URL. `tree`:
    another source tree whose own migrations make the schema (`python -m sql` run there),
    so a before/after comparison includes schema changes."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    try:
        if tree is None:
            upgrade(url)
        else:
            env = {**os.environ, "TICKWIRE_DATABASE_URL": url, "TICKWIRE_LOG_LEVEL": "WARNING"}
            subprocess.run([sys.executable, "-m", "sql"], cwd=tree, env=env, check=True)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def checkpoint(server_url: str) -> None:
    """Flush dirty pages now rather than in the middle of the next measurement."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            log.debug("not allowed to CHECKPOINT; measuring without")
