"""The SQLite connection every table module shares: opening, migrating, transactions, times."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ..errors import StateError
from .schema import MIGRATIONS, SCHEMA_VERSION


def to_db_time(moment: datetime) -> str:
    """A fixed-width UTC text that sorts in time order."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_db_time(text: str, tz: ZoneInfo) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).astimezone(tz)


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
    """One open state file. Datetimes go in aware and come out in the display zone `tz`."""

    def __init__(self, db: sqlite3.Connection, path: Path, tz: ZoneInfo) -> None:
        self.db = db
        self.path = path
        self.tz = tz

    @classmethod
    def connect(cls, path: Path, tz: ZoneInfo) -> Database:
        """Open (creating it and its folder if needed) and upgrade the state file in place."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _create_private(path)
            db = sqlite3.connect(path, isolation_level=None, timeout=30)
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
            database._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{path}: cannot open state database: {exc}") from None
        except OSError as exc:
            raise StateError(f"{path}: cannot create state database: {exc.strerror}") from None
        return database

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path}: state schema version {version} is newer than this feeder "
                f"understands ({SCHEMA_VERSION}); upgrade feeder"
            )
        if version == SCHEMA_VERSION:
            return
        with self.transaction():
            for step in MIGRATIONS[version:]:
                step(self.db)
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        """Inside a transaction: undo just this block's changes if it raises."""
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
        """All or nothing: commit when the block ends, roll back if it raises.

        An SQLite error (disk full, I/O error, locked too long) becomes a StateError naming
        the file; the state is then as it was before the block.
        """
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:  # SQLite may have rolled back already
                    self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StateError(
                f"{self.path}: cannot write the state: {exc} "
                f"(check that {self.path.parent} is writable and has space)"
            ) from None
