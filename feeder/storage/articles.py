"""The articles and their tags: what polls write and what feeds and issues read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from ..model import Article, ArticleRow, Classification, Entry, WriteMode
from .base import Database, from_db_time, to_db_time
from .engine import NO_LIMIT


def article_row(article: Article, digest: str, verdict: Classification) -> ArticleRow:
    """An article and its verdict as the row a poll writes."""
    return ArticleRow(
        article.id,
        article.title,
        article.url,
        to_db_time(article.published),
        article.account,
        article.content,
        article.source,
        article.author,
        article.editor,
        digest,
        tuple((tag, verdict.scores.get(tag, 0.0)) for tag in verdict.tags),
    )


# Parameters: a row's ten article fields, then first_seen.
_INSERT_ROW = """
    INSERT INTO articles (id, title, url, published, account, content, source, author,
                          editor, digest, first_seen, changed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
"""
# The same, overwriting a stored article; then also edited, and when (moves changed_at).
_UPSERT_ROW = (
    _INSERT_ROW
    + """
    ON CONFLICT (id) DO UPDATE SET
        title = excluded.title, url = excluded.url, published = excluded.published,
        account = excluded.account, content = excluded.content,
        source = excluded.source, author = excluded.author, editor = excluded.editor,
        digest = excluded.digest,
        changed_at = CASE WHEN ? THEN ? ELSE articles.changed_at END
"""
)
_INSERT_TAG = "INSERT INTO tags (article_id, tag, rank, score) VALUES (?, ?, ?, ?)"
# An article written or re-tagged: the next publish works out its feeds again.
_PENDING = "INSERT INTO feed_pending (article_id) VALUES (?) ON CONFLICT (article_id) DO NOTHING"
ARTICLE_COLUMNS = (
    "a.id, a.title, a.url, a.published, a.account, a.content, a.source, a.author, a.editor"
)


class Articles(Database):
    """The articles and tags tables."""

    @property
    def _entry_columns(self) -> str:
        # Tags in rank order, primary first, as one comma-joined text (ids have no commas).
        return f"a.first_seen, a.changed_at, {self.dialect.tags_of}"

    def digest_of(self, article_id: str) -> str | None:
        row = self.db.execute(
            "SELECT digest FROM articles WHERE id = :id", {"id": article_id}
        ).fetchone()
        return None if row is None else str(row[0])

    def known_digests(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, digest FROM articles"))

    def set_tags(self, article_id: str, verdict: Classification) -> None:
        self.db.execute("DELETE FROM tags WHERE article_id = ?", (article_id,))
        self.db.executemany(
            _INSERT_TAG,
            [
                (article_id, tag, rank, verdict.scores.get(tag, 0.0))
                for rank, tag in enumerate(verdict.tags)
            ],
        )
        self.db.execute(_PENDING, (article_id,))

    def put_articles(
        self, rows: Sequence[ArticleRow], now: datetime, modes: Sequence[WriteMode]
    ) -> None:
        stamp = to_db_time(now)
        # An id twice in one batch: its last row is written, as an insert if either was.
        last: dict[str, tuple[ArticleRow, WriteMode]] = {}
        for row, mode in zip(rows, modes, strict=True):
            earlier = last.get(row.id)
            if earlier is not None and WriteMode.INSERT in (earlier[1], mode):
                mode = WriteMode.INSERT
            last[row.id] = (row, mode)
        rows = [row for row, _ in last.values()]
        fresh = [row for row, mode in last.values() if mode is WriteMode.INSERT]
        known = [
            (row, mode is WriteMode.EDIT)
            for row, mode in last.values()
            if mode is not WriteMode.INSERT
        ]
        self.db.executemany(_INSERT_ROW, [(*row[:10], stamp) for row in fresh])
        self.db.executemany(_UPSERT_ROW, [(*row[:10], stamp, was, stamp) for row, was in known])
        self.db.executemany("DELETE FROM tags WHERE article_id = ?", [(r.id,) for r, _ in known])
        self.db.executemany(
            _INSERT_TAG,
            [
                (row.id, tag, rank, score)
                for row in rows
                for rank, (tag, score) in enumerate(row.tags)
            ],
        )
        self.db.executemany(_PENDING, [(row.id,) for row in rows])

    def articles(self) -> Iterator[Article]:
        for row in self.db.stream(f"SELECT {ARTICLE_COLUMNS} FROM articles a ORDER BY id"):
            yield self._article(row)

    def article(self, article_id: str) -> Article | None:
        row = self.db.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.id = :id", {"id": article_id}
        ).fetchone()
        return None if row is None else self._article(row)

    def count_articles(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM articles").fetchone()[0])

    def tag_counts(self) -> dict[str, int]:
        counts = dict(self.db.execute("SELECT tag, count(*) FROM tags GROUP BY tag ORDER BY tag"))
        counts[""] = self.db.execute(
            "SELECT count(*) FROM articles WHERE id NOT IN (SELECT article_id FROM tags)"
        ).fetchone()[0]
        return counts

    def entries(self, tag: str | None = None, limit: int | None = None) -> list[Entry]:
        # EXISTS walks the newest-first index and stops at the limit; IN (SELECT …) would
        # first collect every id of the tag (0.08 s per feed at 100,000 articles).
        where = (
            ""
            if tag is None
            else "WHERE EXISTS (SELECT 1 FROM tags t WHERE t.article_id = a.id AND t.tag = :tag)"
        )
        sql = (
            f"SELECT {ARTICLE_COLUMNS}, {self._entry_columns} FROM articles a {where} "
            "ORDER BY a.published DESC, a.id DESC LIMIT :limit"
        )
        rows = self.db.execute(sql, {"tag": tag, "limit": NO_LIMIT if limit is None else limit})
        return [self._entry(row) for row in rows]

    def entries_published(self, start: datetime, end: datetime) -> list[Entry]:
        sql = (
            f"SELECT {ARTICLE_COLUMNS}, {self._entry_columns} FROM articles a "
            "WHERE a.published >= :start AND a.published < :end "
            "ORDER BY a.published DESC, a.id DESC"
        )
        rows = self.db.execute(sql, {"start": to_db_time(start), "end": to_db_time(end)})
        return [self._entry(row) for row in rows]

    def _article(self, row: Sequence[object]) -> Article:
        ident, title, url, published, account, content, source, author, editor = row[:9]
        return Article(
            id=str(ident),
            title=str(title),
            url=None if url is None else str(url),
            published=from_db_time(str(published), self.tz),
            account=str(account),
            content=str(content),
            source=None if source is None else str(source),
            author=None if author is None else str(author),
            editor=None if editor is None else str(editor),
        )

    def _entry(self, row: Sequence[object]) -> Entry:
        article = self._article(row)
        first_seen, changed_at, tags = row[9:12]
        return Entry(
            article=article,
            tags=tuple(str(tags).split(",")) if tags else (),
            updated=article.published
            if changed_at is None
            else from_db_time(str(changed_at), self.tz),
            first_seen=from_db_time(str(first_seen), self.tz),
        )
