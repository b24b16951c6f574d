"""The SQLite backend: one state file holding every table, behind the store protocols."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from .labels import Labels
from .ledger import Ledger
from .members import Members
from .polls import Polls
from .subscribers import Subscribers


class SqliteStorage(Members, Labels, Polls, Subscribers, Ledger):
    """Every table of one SQLite state file, through one connection."""

    shared = False  # one machine: its processes coordinate with file locks beside it

    @classmethod
    def open(cls, path: Path, tz: ZoneInfo, *, upgrade: bool | None = True) -> SqliteStorage:
        """Open (creating it and its folder if needed) the state file, upgraded in place
        unless `upgrade` is False (then an out-of-date one is refused) or None (as it is)."""
        storage = cls.connect(path, tz, upgrade=upgrade)
        assert isinstance(storage, SqliteStorage)
        return storage

    def another(self) -> SqliteStorage:
        return SqliteStorage.open(self.path, self.tz)

    @contextmanager
    def exclusive(self, name: str, wait: float = 0.0) -> Iterator[None]:
        yield  # one machine's processes hold file locks beside the state (feeder/lock.py)

    def __enter__(self) -> SqliteStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
