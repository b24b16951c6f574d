"""The SQLite backend: one state file holding every table, behind the Storage interface."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from .feeds import Feeds
from .ledger import Ledger
from .polls import Polls
from .subscribers import Subscribers


class SqliteStorage(Feeds, Polls, Subscribers, Ledger):
    """Every table of one SQLite state file, through one connection."""

    @classmethod
    def open(cls, path: Path, tz: ZoneInfo) -> SqliteStorage:
        """Open (creating it and its folder if needed) and upgrade the state file in place."""
        storage = cls.connect(path, tz)
        assert isinstance(storage, SqliteStorage)
        return storage

    def __enter__(self) -> SqliteStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
