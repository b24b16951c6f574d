"""Which articles each feed holds, in the order they joined it, the archive pages written
from them (RFC 5005), the articles written since the last publish, and each account's slug.

Publishing reads and writes these; polls only mark the articles they wrote as pending.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from ..model import Entry
from .articles import ARTICLE_COLUMNS, Articles


class Members(Articles):
    """The feed_members, archive_pages, feed_pending and accounts tables."""

    # -- What changed since the last publish ------------------------------------------------

    def pending_ids(self) -> list[str]:
        sql = (
            "SELECT a.id FROM feed_pending p JOIN articles a ON a.id = p.article_id "
            "ORDER BY a.published, a.id"
        )
        return [str(row[0]) for row in self.db.execute(sql)]

    def mark_all_pending(self) -> None:
        self.db.execute(
            "INSERT INTO feed_pending (article_id) SELECT id FROM articles "
            "WHERE id NOT IN (SELECT article_id FROM feed_pending)"
        )

    def clear_pending(self) -> None:
        self.db.execute("DELETE FROM feed_pending")

    def entries_of(self, ids: Sequence[str], chars: int | None = None) -> dict[str, Entry]:
        columns = ARTICLE_COLUMNS
        if chars is not None:
            columns = columns.replace("a.content", "substr(a.content, 1, :chars)")
        sql = (
            f"SELECT {columns}, {self._entry_columns} FROM articles a "
            f"WHERE a.id {self.dialect.in_json('ids')}"
        )
        rows = self.db.execute(sql, {"ids": json.dumps(list(ids)), "chars": chars})
        return {entry.article.id: entry for entry in map(self._entry, rows)}

    # -- Members ---------------------------------------------------------------------------

    def memberships(self, ids: Sequence[str], feeds: Sequence[str]) -> dict[str, dict[str, int]]:
        # Through the (feed, article_id) key: an index of its own on article_id would cost
        # every insert of a 100,000-article build more than these look-ups save.
        sql = (
            "SELECT article_id, feed, seq FROM feed_members "
            f"WHERE feed {self.dialect.in_json('feeds')} "
            f"AND article_id {self.dialect.in_json('ids')}"
        )
        found: dict[str, dict[str, int]] = {}
        values = {"ids": json.dumps(list(ids)), "feeds": json.dumps(list(feeds))}
        for ident, feed, seq in self.db.execute(sql, values):
            found.setdefault(str(ident), {})[str(feed)] = int(seq)
        return found

    def last_seq(self, feed: str) -> int:
        row = self.db.execute(
            "SELECT max(seq) FROM feed_members WHERE feed = :feed", {"feed": feed}
        ).fetchone()
        return int(row[0] or 0)

    def add_members(self, rows: Iterable[tuple[str, int, str]]) -> None:
        self.db.executemany(
            "INSERT INTO feed_members (feed, seq, article_id) VALUES (?, ?, ?)", list(rows)
        )

    def drop_members(self, rows: Iterable[tuple[str, str]]) -> None:
        self.db.executemany(
            "DELETE FROM feed_members WHERE feed = ? AND article_id = ?", list(rows)
        )

    def member_feeds(self) -> list[str]:
        sql = (
            "SELECT DISTINCT feed FROM feed_members "
            "UNION SELECT DISTINCT feed FROM archive_pages ORDER BY 1"
        )
        return [str(row[0]) for row in self.db.execute(sql)]

    def drop_feed(self, feed: str) -> list[int]:
        pages = sorted(self.archive_pages(feed))
        self.db.execute("DELETE FROM feed_members WHERE feed = :feed", {"feed": feed})
        self.db.execute("DELETE FROM archive_pages WHERE feed = :feed", {"feed": feed})
        return pages

    def archive_end(self, feed: str, keep: int) -> int:
        row = self.db.execute(
            "SELECT seq FROM feed_members WHERE feed = :feed ORDER BY seq DESC "
            "LIMIT 1 OFFSET :keep",
            {"feed": feed, "keep": keep},
        ).fetchone()
        return 0 if row is None else int(row[0])

    def feed_entries(self, feed: str, limit: int) -> list[Entry]:
        sql = (
            f"SELECT {ARTICLE_COLUMNS}, {self._entry_columns} FROM articles a "
            "JOIN (SELECT article_id FROM feed_members WHERE feed = :feed "
            "ORDER BY seq DESC LIMIT :limit) m ON m.article_id = a.id "
            "ORDER BY a.published DESC, a.id DESC"
        )
        return [self._entry(row) for row in self.db.execute(sql, {"feed": feed, "limit": limit})]

    def member_ids(self, feed: str, first: int, last: int) -> list[str]:
        sql = (
            "SELECT article_id FROM feed_members "
            "WHERE feed = :feed AND seq BETWEEN :first AND :last ORDER BY seq"
        )
        rows = self.db.execute(sql, {"feed": feed, "first": first, "last": last})
        return [str(row[0]) for row in rows]

    # -- Archive pages -----------------------------------------------------------------------

    def archive_pages(self, feed: str) -> dict[int, str]:
        rows = self.db.execute(
            "SELECT n, shape FROM archive_pages WHERE feed = :feed", {"feed": feed}
        )
        return {int(n): str(shape) for n, shape in rows}

    def record_pages(self, feed: str, shapes: dict[int, str]) -> None:
        self.db.executemany(
            "INSERT INTO archive_pages (feed, n, shape) VALUES (?, ?, ?) "
            "ON CONFLICT (feed, n) DO UPDATE SET shape = excluded.shape",
            [(feed, n, shape) for n, shape in shapes.items()],
        )

    def forget_pages(self, pages: Iterable[tuple[str, int]]) -> None:
        self.db.executemany("DELETE FROM archive_pages WHERE feed = ? AND n = ?", list(pages))

    # -- Accounts ----------------------------------------------------------------------------

    def account_slugs(self) -> dict[str, str]:
        return {
            str(name): str(slug)
            for name, slug in self.db.execute("SELECT name, slug FROM accounts")
        }

    def add_account(self, name: str, slug: str) -> None:
        self.db.execute(
            "INSERT INTO accounts (name, slug) VALUES (:name, :slug)", {"name": name, "slug": slug}
        )
