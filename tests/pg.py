"""A throwaway PostgreSQL cluster for the test session, and a fresh database per test.

Debian's `postgresql` (.ci/run installs it). A missing server FAILS the run: the tests that
say they run on both backends must not quietly run on one.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from feeder.storage import migrate_storage
from feeder.storage.engine import close_pools

BIN = Path(os.environ.get("FEEDER_PG_BIN", "/usr/lib/postgresql/15/bin"))
_names = itertools.count()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(*command: str) -> None:
    """Run a server tool as the `postgres` user when we are root (initdb refuses root)."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)


class Cluster:
    """A running cluster on 127.0.0.1; `create()` gives the URL of a new empty database."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self._template = ""

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def create(self, template: str = "template0") -> str:
        name = f"feeder_test_{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.admin, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def migrated(self) -> str:
        """A new database at this feeder's schema (a copy of one migrated once)."""
        if not self._template:
            url = self.create()
            migrate_storage(url, ZoneInfo("UTC"))
            close_pools()  # a template must have no connections
            self._template = url.rsplit("/", 1)[1]
        return self.create(self._template)

    def drop(self, url: str) -> None:
        close_pools()  # the pool's idle connections would keep the database in use
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """initdb and start a cluster for this session; stopped and removed at its end."""
    initdb = BIN / "initdb"
    if not initdb.exists():
        pytest.fail(f"{initdb} is missing: apt-get install -y postgresql (or set FEEDER_PG_BIN)")
    folder = Path(tempfile.mkdtemp(prefix="feeder-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    port = _free_port()
    _as_postgres(str(initdb), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
                 str(folder / "log"), "start")  # fmt: skip
    try:
        yield Cluster(port)
    finally:
        close_pools()
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """A new, empty database for one test, dropped after it."""
    url = pg_cluster.create()
    yield url
    pg_cluster.drop(url)


@pytest.fixture
def pg_state(pg_cluster: Cluster) -> Iterator[str]:
    """A new database at this feeder's schema for one test, dropped after it."""
    url = pg_cluster.migrated()
    yield url
    pg_cluster.drop(url)
