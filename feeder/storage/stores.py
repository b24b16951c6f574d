"""The store protocols: what the rest of feeder may ask of the state, in small parts.

Each job, and each module below the jobs, names only the stores it uses. Both engines
(storage/sqlite.py, storage/postgres.py) implement every one of them through the table
modules; `Storage` (storage/__init__.py) is their union, which only the facade holds
whole. Here: the base every store shares, and the articles', feeds', labels', polls' and
tables' stores; storage/mail_stores.py has the newsletter's. Every method's docstring is
in its protocol, once: an implementation adds a comment where its engine does something
of its own, never a second docstring.

Datetimes go in aware and come out in the display zone. Addresses come in normalised; a
choice of sections is a tuple of tag ids, None for everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, Self

from ..model import (
    Article,
    ArticleRow,
    Classification,
    Correction,
    Entry,
    PollRecord,
    WriteMode,
)


class Store(Protocol):
    """One open state: where it is, its transactions and its locks."""

    location: Path | str  # the SQLite file or the database URL (never with a password)
    shared: bool  # several processes on several hosts may use it at once (PostgreSQL)

    def close(self) -> None:
        """Let go of the connection (on PostgreSQL it goes back to its pool)."""
        ...

    def another(self) -> Self:
        """Another connection to the same state, for a thread of its own."""
        ...

    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...

    def transaction(self) -> AbstractContextManager[None]:
        """All or nothing: commit when the block ends, roll back if it raises.

        A database error (disk full, I/O error, locked too long, a lost server) becomes a
        StateError naming the state; the state is then as it was before the block.
        """
        ...

    def savepoint(self, name: str) -> AbstractContextManager[None]:
        """Inside a transaction: undo just this block's changes if it raises."""
        ...

    def exclusive(self, name: str, wait: float = 0.0) -> AbstractContextManager[None]:
        """On a shared state, hold the lock `name` across every host for the block, waiting
        up to `wait` seconds, else LockedError. It is a session advisory lock, which the
        server drops when its holder's connection ends, so a killed holder (on any host)
        leaves none behind. On a one-machine state, nothing: file locks beside the state
        file do that there (feeder/lock.py)."""
        ...


class ArticleStore(Store, Protocol):
    """The articles and their tags: what polls write and what feeds and issues read."""

    def digest_of(self, article_id: str) -> str | None:
        """One stored article's record digest, or None if it is not stored."""
        ...

    def known_digests(self) -> dict[str, str]:
        """Every stored article's record digest, by id: enough to tell new from edited."""
        ...

    def set_tags(self, article_id: str, verdict: Classification) -> None:
        """Give a stored article the verdict's tags, primary first; the next publish works
        out its feeds again."""
        ...

    def put_articles(
        self, rows: Sequence[ArticleRow], now: datetime, modes: Sequence[WriteMode]
    ) -> None:
        """Store many rows at once, each as its mode says, each pending for the next publish.

        INSERT rows are plain inserts with no tags to clear, which matters for a first poll
        of a large corpus; the others overwrite, and only EDIT moves `changed_at`. An id
        twice in one batch: its last row is written, as an insert if either was one.
        """
        ...

    def articles(self) -> Iterator[Article]:
        """Every stored article, in id order (streamed, not loaded whole)."""
        ...

    def article(self, article_id: str) -> Article | None:
        """One stored article, or None if no article has that id."""
        ...

    def count_articles(self) -> int:
        """How many articles are stored."""
        ...

    def tag_counts(self) -> dict[str, int]:
        """How many articles carry each tag ("" for untagged)."""
        ...

    def entries(self, tag: str | None = None, limit: int | None = None) -> list[Entry]:
        """Published entries, newest first (ties by id, descending), optionally of one tag."""
        ...

    def entries_published(self, start: datetime, end: datetime) -> list[Entry]:
        """Entries published in [start, end), newest first."""
        ...


class FeedStore(Store, Protocol):
    """Which articles each feed holds, in the order they joined it; the archive pages
    written from them (RFC 5005); the articles written since the last publish; and each
    account's slug. Publishing reads and writes these; polls only mark articles pending."""

    def pending_ids(self) -> list[str]:
        """The articles written or re-tagged since the last publish, oldest published first
        (ties by id): the order in which new ones join their feeds."""
        ...

    def mark_all_pending(self) -> None:
        """Every article's feeds must be worked out again (the feeds themselves changed)."""
        ...

    def clear_pending(self) -> None:
        """Every pending article has its feeds: the publish that read them is done."""
        ...

    def entries_of(self, ids: Sequence[str], chars: int | None = None) -> dict[str, Entry]:
        """The entries of these articles, by id (an id not stored is left out); with `chars`,
        their text cut to its first `chars` characters (0: none of it), which spares reading
        the whole of every text when only its start matters."""
        ...

    def memberships(self, ids: Sequence[str], feeds: Sequence[str]) -> dict[str, dict[str, int]]:
        """For each of these articles in some of these feeds: its seq in each, by feed."""
        ...

    def last_seq(self, feed: str) -> int:
        """The seq of the feed's newest member; 0 for an empty feed."""
        ...

    def add_members(self, rows: Iterable[tuple[str, int, str]]) -> None:
        """Append (feed, seq, article id) rows."""
        ...

    def drop_members(self, rows: Iterable[tuple[str, str]]) -> None:
        """Take (feed, article id) pairs out of their feeds; the others keep their seq."""
        ...

    def member_feeds(self) -> list[str]:
        """Every feed that has members or archive pages recorded."""
        ...

    def drop_feed(self, feed: str) -> list[int]:
        """Forget a feed that no longer exists: its members and pages; the pages' numbers."""
        ...

    def archive_end(self, feed: str, keep: int) -> int:
        """The seq of the newest member the subscription document leaves out (it holds the
        newest `keep`): archive pages hold seq 1 to this. 0 when nothing is left out."""
        ...

    def feed_entries(self, feed: str, limit: int) -> list[Entry]:
        """The feed's newest `limit` members (by arrival), newest published first."""
        ...

    def member_ids(self, feed: str, first: int, last: int) -> list[str]:
        """The ids of the feed's members with seq from `first` to `last`, in seq order."""
        ...

    def archive_pages(self, feed: str) -> dict[int, str]:
        """The feed's archive pages as written: each page's shape, by number."""
        ...

    def record_pages(self, feed: str, shapes: dict[int, str]) -> None:
        """Note the feed's archive pages just written: each page's shape, by number."""
        ...

    def forget_pages(self, pages: Iterable[tuple[str, int]]) -> None:
        """(feed, n) pages to write again: one of their articles changed or left."""
        ...

    def account_slugs(self) -> dict[str, str]:
        """Every account's slug, by account name."""
        ...

    def add_account(self, name: str, slug: str) -> None:
        """Keep a new account's slug: its feed's name for good."""
        ...


class LabelStore(Store, Protocol):
    """People's verdicts on articles' tags: what `feeder label` records and every build obeys."""

    def put_label(self, correction: Correction) -> None:
        """Record a verdict, replacing any earlier one for that article."""
        ...

    def labels(self) -> list[Correction]:
        """Every recorded verdict, in article id order."""
        ...


class PollStore(Store, Protocol):
    """What the polls saw and did: a short history for `feeder status`, not a growing log."""

    def record_poll(self, poll: PollRecord) -> None:
        """Record a finished poll; the oldest beyond the last hundred are dropped."""
        ...

    def touch_last_poll(self, mtime_ns: int) -> None:
        """The corpus file has a new mtime but the same bytes: remember the new mtime."""
        ...

    def last_poll(self) -> PollRecord | None:
        """The last poll recorded; None before the first."""
        ...


class MetaStore(Store, Protocol):
    """The few facts kept between runs, by key (the taxonomy's fingerprint, the secret …)."""

    def get_meta(self, key: str) -> str | None:
        """The value kept under `key`; None if there is none."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Keep `value` under `key`, replacing what was there."""
        ...


class TableStore(Store, Protocol):
    """The state as tables of rows, for `feeder state migrate` and `feeder state copy`."""

    def schema_version(self) -> int:
        """The version the state's schema is at (0: an empty state)."""
        ...

    def migrate(self) -> tuple[int, int]:
        """Bring the schema up to this feeder's version in one transaction: (from, to)."""
        ...

    def count_rows(self, table: str) -> int:
        """How many rows `table` holds."""
        ...

    def columns(self, table: str) -> list[str]:
        """The names of `table`'s columns, in their order."""
        ...

    def rows(self, table: str, columns: Sequence[str], order: str) -> Iterator[Sequence[Any]]:
        """`table`'s rows as tuples of `columns`, sorted by `order` (column names, where
        `{seq}` stands for the ledger's own order: the rowid on SQLite), streamed."""
        ...

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Add rows, each a tuple of `columns`, to `table`."""
        ...

    def after_copy(self) -> None:
        """Once `feeder state copy` has written every row: what the engine must do then (on
        PostgreSQL, number the next poll after the copied ones)."""
        ...
