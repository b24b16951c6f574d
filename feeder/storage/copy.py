"""Moving a whole state from one engine to the other (`feeder state copy`): every table, in
one transaction on each side, counted and checked."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from ..errors import StateError
from .stores import TableStore

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


def copy_state(source: TableStore, target: TableStore) -> list[Copied]:
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
            if target.count_rows(table):
                raise StateError(
                    f"{target.location}: table {table} is not empty; copy into an empty state"
                )
        for table, order in TABLES:
            columns = [c for c in source.columns(table) if (table, c) not in ENGINE_COLUMNS]
            for chunk in _chunks(source.rows(table, columns, order)):
                target.insert_rows(table, columns, chunk)
            copied.append(Copied(table, source.count_rows(table), target.count_rows(table)))
        target.after_copy()
        wrong = [c for c in copied if c.source != c.target]
        if wrong:
            raise StateError(
                f"{target.location}: the copy does not add up ("
                + ", ".join(f"{c.table}: {c.source} rows, {c.target} copied" for c in wrong)
                + "); nothing was kept"
            )
    return copied


def _chunks(rows: Iterator[Sequence[Any]]) -> Iterator[list[tuple[Any, ...]]]:
    while chunk := [tuple(row) for row in islice(rows, CHUNK)]:
        yield chunk
