"""Moving a whole state from one engine to the other (`feeder state copy`): every table, in
one transaction on each side, counted and checked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from ..errors import StateError
from .base import Database

# Parents before children (the foreign keys), and the ledger in its own order: the target
# numbers its rows (rowid or seq) afresh in that order, so the send order survives.
TABLES: tuple[tuple[str, str], ...] = (
    ("articles", "id"),
    ("tags", "article_id, tag"),
    ("meta", "key"),
    ("polls", "id"),
    ("subscribers", "email"),
    ("issues", "key"),
    ("issue_articles", "issue, position"),
    ("issue_editions", "issue, edition"),
    ("deliveries", "{seq}"),
    ("form_nonces", "nonce"),
    ("labels", "article_id"),
    ("feed_members", "feed, seq"),
    ("archive_pages", "feed, n"),
    ("feed_pending", "article_id"),
    ("accounts", "name"),
)
# Columns one engine has and the other numbers by itself: (table, column).
ENGINE_COLUMNS = {("deliveries", "seq")}
CHUNK = 1000  # rows written per executemany


@dataclass(frozen=True, slots=True)
class Copied:
    """One table moved: its rows in the source and, counted afterwards, in the target."""

    table: str
    source: int
    target: int


def copy_state(source: Database, target: Database) -> list[Copied]:
    """Copy every row of `source` into `target`, which must hold no rows and be at the same
    schema version (a new, empty one is brought there first). All or nothing: StateError if
    the target is not empty, or if any table's count differs afterwards (then nothing is kept).
    """
    version = source.schema_version()
    if target.schema_version() == 0:
        target.migrate()
    if target.schema_version() != version:
        raise StateError(
            f"{target.location}: schema version {target.schema_version()}, the source's is "
            f"{version}; run `feeder state migrate` on both first"
        )
    copied: list[Copied] = []
    with source.transaction(), target.transaction():
        for table, _ in TABLES:
            if _count(target, table):
                raise StateError(
                    f"{target.location}: table {table} is not empty; copy into an empty state"
                )
        for table, order in TABLES:
            columns = [c for c in _columns(source, table) if (table, c) not in ENGINE_COLUMNS]
            names = ", ".join(columns)
            rows = source.db.stream(
                f"SELECT {names} FROM {table} ORDER BY {order.format(seq=source.dialect.seq)}"
            )
            insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' for _ in columns)})"
            for chunk in _chunks(rows):
                target.db.executemany(insert, chunk)
            copied.append(Copied(table, _count(source, table), _count(target, table)))
        target.after_copy()
        wrong = [c for c in copied if c.source != c.target]
        if wrong:
            raise StateError(
                f"{target.location}: the copy does not add up ("
                + ", ".join(f"{c.table}: {c.source} rows, {c.target} copied" for c in wrong)
                + "); nothing was kept"
            )
    return copied


def _count(database: Database, table: str) -> int:
    return int(database.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _columns(database: Database, table: str) -> list[str]:
    cursor = database.db.execute(f"SELECT * FROM {table} LIMIT 0")
    columns = [str(c[0]) for c in cursor.description]
    cursor.fetchall()
    return columns


def _chunks(rows: Iterator[Any]) -> Iterator[list[Any]]:
    while chunk := [tuple(row) for row in islice(rows, CHUNK)]:
        yield chunk
