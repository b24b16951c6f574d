"""Row files: new articles a worker process writes to a SQLite file of its own, for the
poll's process to merge into the state with one INSERT … SELECT instead of a row at a time.

Measured on a cold poll: pickling rows through the pipe and binding them one by one in the
poll's process cost that process twice the CPU of merging the same rows from a file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ..model import ArticleRow

# Nothing here needs to survive a crash: a file is only merged after its writer closed it,
# and the poll removes it either way. Hence no journal and no syncs.
_SCHEMA = """
    PRAGMA journal_mode = OFF;
    PRAGMA synchronous = OFF;
    PRAGMA page_size = 16384;
    CREATE TABLE rows (id TEXT, title TEXT, url TEXT, published TEXT, account TEXT,
                       content TEXT, source TEXT, author TEXT, editor TEXT, digest TEXT);
    CREATE TABLE tags (article_id TEXT, tag TEXT, rank INTEGER, score REAL);
"""
ROW_FILE_SUFFIX = ".rows.tmp"


class RowFile:
    """One file of new rows, written by one worker, in the order it read them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink(missing_ok=True)  # a stale one of a killed poll
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript(_SCHEMA)
        self.db.execute("BEGIN")

    def add(self, rows: Sequence[ArticleRow]) -> None:
        self.db.executemany(
            "INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [row[:10] for row in rows]
        )
        self.db.executemany(
            "INSERT INTO tags VALUES (?, ?, ?, ?)",
            [
                (row.id, tag, rank, score)
                for row in rows
                for rank, (tag, score) in enumerate(row.tags)
            ],
        )

    def close(self) -> None:
        self.db.execute("COMMIT")
        self.db.close()
