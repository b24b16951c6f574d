"""The connection every table module shares: opening, migrating, transactions, times.

`Database` is the SQLite state; storage/postgres.py overrides what differs on PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import StateError
from .engine import SQLITE, Connection, Dialect, SqliteConnection
from .schema import MIGRATIONS, SCHEMA_VERSION


def to_db_time(moment: datetime) -> str:
    """A fixed-width UTC text that sorts in time order."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_db_time(text: str, tz: ZoneInfo) -> datetime:
    # fromisoformat, not strptime: a tenth of the time, which shows when a build reads
    # 100,000 rows. It reads the trailing "Z" as UTC (Python 3.11).
    return datetime.fromisoformat(text).astimezone(tz)


def _create_private(path: Path) -> None:
    """Create the state file empty and readable by its owner only, unless it exists.

    It holds the subscribers' addresses, and SQLite would create it 0644 less the umask.
    SQLite gives its write-ahead log and shared-memory index the database file's mode, so
    they are private too. An existing file keeps the mode its operator gave it. An empty
    file is a valid empty database, so a crash right after this leaves nothing to repair.
    """
    try:
        # Where SQLite will open it: it follows a symlink, even a dangling one.
        fd = os.open(path.resolve(), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        # Exactly 0600: an odd umask such as 0o277 would otherwise leave it unwritable.
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


class Database:
    """One open state, on either engine. Datetimes go in aware and come out in the display
    zone `tz`. `location` is the state file, or the database URL (it never holds a password).
    """

    def __init__(
        self, db: Connection, location: Path | str, tz: ZoneInfo, dialect: Dialect = SQLITE
    ) -> None:
        self.db = db
        self.location = location
        self.tz = tz
        self.dialect = dialect

    @property
    def path(self) -> Path:
        """The SQLite state file (for the messages and tests that name it)."""
        return Path(self.location)

    @classmethod
    def connect(cls, path: Path, tz: ZoneInfo, *, upgrade: bool | None = True) -> Database:
        """Open (creating it and its folder if needed) the state file; upgrade it in place,
        or with `upgrade=False` refuse one whose schema is out of date (None: neither, for
        `migrate`)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _create_private(path)
            db = sqlite3.connect(path, isolation_level=None, timeout=30, factory=SqliteConnection)
            db.execute("PRAGMA foreign_keys = ON")
            # Takes effect only on a new file: a typical article (6 KB of UTF-8) then fits
            # in one page instead of a chain of 4 KB overflow pages.
            db.execute("PRAGMA page_size = 16384")
            # Write-ahead logging: readers (the web pages, /healthz, a send's connections) never
            # wait for a writer, nor a writer for them. FULL: a commit survives a power cut,
            # as a send's claim must.
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            # 16 MB of page cache, not 2 MB: a cold poll's inserts land all over the indexes
            # (ids, dates, tags), which at 100,000 articles outgrow 2 MB; measured, the bulk
            # insert took a fifth less CPU. 32 MB did no better and took a cold poll's
            # processes together past 200 MB. Pages are taken only as they are read.
            db.execute("PRAGMA cache_size = -16384")
            database = cls(db, path, tz)
            version = database.schema_version()
            # A new, empty file is created at once: nothing in it can be out of date.
            if upgrade or version == 0:
                database.migrate()
            elif upgrade is False:
                database.check_schema()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{path}: cannot open state database: {exc}") from None
        except OSError as exc:
            raise StateError(f"{path}: cannot create state database: {exc.strerror}") from None
        return database

    def close(self) -> None:
        self.db.close()

    # -- The schema ----------------------------------------------------------------------

    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _set_schema_version(self, version: int) -> None:
        self.db.execute(f"PRAGMA user_version = {int(version)}")

    def _baseline(self) -> int:
        """Lay down the schema an empty state starts from; returns its version. SQLite
        starts from nothing and runs every step."""
        return 0

    def check_schema(self) -> None:
        """StateError (one line saying what to run) unless the schema is this feeder's."""
        version = self.schema_version()
        self._refuse_newer(version)
        if version != SCHEMA_VERSION:
            raise StateError(
                f"{self.location}: state schema version {version}, this feeder needs "
                f"{SCHEMA_VERSION}; run `feeder state migrate`"
            )

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.location}: state schema version {version} is newer than this feeder "
                f"understands ({SCHEMA_VERSION}); upgrade feeder"
            )

    def migrate(self) -> tuple[int, int]:
        with self.transaction():
            before = version = self.schema_version()
            self._refuse_newer(version)
            if version == SCHEMA_VERSION:
                return before, version
            if version == 0:
                version = self._baseline()
            for step in MIGRATIONS[version:]:
                step(self.db)
            self._set_schema_version(SCHEMA_VERSION)
        return before, SCHEMA_VERSION

    # -- Rows, for `state copy` -------------------------------------------------------------

    def count_rows(self, table: str) -> int:
        return int(self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def columns(self, table: str) -> list[str]:
        cursor = self.db.execute(f"SELECT * FROM {table} LIMIT 0")
        columns = [str(c[0]) for c in cursor.description]
        cursor.fetchall()
        return columns

    def rows(self, table: str, columns: Sequence[str], order: str) -> Iterator[Sequence[Any]]:
        sort = order.format(seq=self.dialect.seq)
        return self.db.stream(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {sort}")

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        values = ", ".join("?" for _ in columns)
        self.db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})", rows)

    def after_copy(self) -> None:
        pass  # SQLite numbers the next poll after the copied ones by itself

    @contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        self.db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.db.execute(f"ROLLBACK TO {name}")
            self.db.execute(f"RELEASE {name}")
            raise
        self.db.execute(f"RELEASE {name}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            self.db.execute(self.dialect.begin)
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:  # SQLite may have rolled back already
                    self.db.execute("ROLLBACK")
                raise
        except self.dialect.errors as exc:
            raise StateError(self._write_error(exc)) from None

    def _write_error(self, exc: Exception) -> str:
        return (
            f"{self.location}: cannot write the state: {exc} "
            f"(check that {self.path.parent} is writable and has space)"
        )
