"""The SQLite state: articles, their tags, what the last poll saw. The only module using sqlite3."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from .errors import StateError
from .model import Article, Classification, Entry

# -- Schema and migrations -----------------------------------------------------------
# Each step upgrades the schema by one version, inside the caller's transaction;
# PRAGMA user_version records how many have run. Never edit a step once released: add one.


def _script(db: sqlite3.Connection, sql: str) -> None:
    """Run several statements inside the open transaction (executescript would commit it)."""
    statement = ""
    for line in sql.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""


def _v1(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE articles (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            url TEXT,
            published TEXT NOT NULL,      -- UTC, "YYYY-MM-DDTHH:MM:SSZ"
            account TEXT NOT NULL,
            content TEXT NOT NULL,
            source TEXT,
            author TEXT,
            editor TEXT,
            content_hash TEXT NOT NULL,
            first_seen TEXT NOT NULL,     -- UTC: the poll that first stored it
            changed_at TEXT               -- UTC: the poll that last saw an edit; NULL if never
        );
        CREATE INDEX articles_newest ON articles (published DESC, id DESC);

        CREATE TABLE tags (
            article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            rank INTEGER NOT NULL,        -- 0 for the primary tag
            score REAL NOT NULL,
            PRIMARY KEY (article_id, tag)
        );
        CREATE INDEX tags_by_tag ON tags (tag, article_id);

        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );

        CREATE TABLE polls (
            id INTEGER PRIMARY KEY,
            finished_at TEXT NOT NULL,    -- UTC
            corpus_path TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            new INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            unchanged INTEGER NOT NULL,
            skipped INTEGER NOT NULL,
            resume_offset INTEGER,        -- JSON Lines: bytes read completely
            resume_lines INTEGER,         -- JSON Lines: lines before resume_offset
            resume_check TEXT             -- JSON Lines: digest of the bytes before resume_offset
        );
        """,
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True, slots=True)
class PollRecord:
    """What a successful poll saw of the corpus file, and what it did."""

    finished_at: datetime
    corpus_path: str
    size: int
    mtime_ns: int
    new: int
    updated: int
    unchanged: int
    skipped: int
    resume_offset: int | None = None
    resume_lines: int | None = None
    resume_check: str | None = None


def to_db_time(moment: datetime) -> str:
    """A fixed-width UTC text that sorts in time order."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_db_time(text: str, tz: ZoneInfo) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).astimezone(tz)


class Store:
    """One open state file. Datetimes go in aware and come out in the display zone `tz`."""

    def __init__(self, db: sqlite3.Connection, path: Path, tz: ZoneInfo) -> None:
        self.db = db
        self.path = path
        self.tz = tz

    @classmethod
    def open(cls, path: Path, tz: ZoneInfo) -> Store:
        """Open (creating it and its folder if needed) and upgrade the state file in place."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, timeout=30)
            db.execute("PRAGMA foreign_keys = ON")
            # A rollback journal: one bulk transaction is faster than in WAL, and just as safe.
            db.execute("PRAGMA journal_mode = DELETE")
            store = cls(db, path, tz)
            store._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{path}: cannot open state database: {exc}") from None
        except OSError as exc:
            raise StateError(f"{path}: cannot create state database: {exc.strerror}") from None
        return store

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
    def transaction(self) -> Iterator[None]:
        """All or nothing: commit when the block ends, roll back if it raises."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- Articles ----------------------------------------------------------------------

    def known_hashes(self) -> dict[str, str]:
        """Every stored article's content hash, by id: enough to tell new from edited."""
        return dict(self.db.execute("SELECT id, content_hash FROM articles"))

    def put_article(self, article: Article, content_hash: str, now: datetime, edited: bool) -> None:
        """Insert a new article, or overwrite an edited one and move its `changed_at`."""
        row = {
            "id": article.id,
            "title": article.title,
            "url": article.url,
            "published": to_db_time(article.published),
            "account": article.account,
            "content": article.content,
            "source": article.source,
            "author": article.author,
            "editor": article.editor,
            "content_hash": content_hash,
            "now": to_db_time(now),
            "edited": edited,
        }
        self.db.execute(
            """
            INSERT INTO articles (id, title, url, published, account, content, source, author,
                                  editor, content_hash, first_seen, changed_at)
            VALUES (:id, :title, :url, :published, :account, :content, :source, :author,
                    :editor, :content_hash, :now, NULL)
            ON CONFLICT (id) DO UPDATE SET
                title = excluded.title, url = excluded.url, published = excluded.published,
                account = excluded.account, content = excluded.content,
                source = excluded.source, author = excluded.author, editor = excluded.editor,
                content_hash = excluded.content_hash,
                changed_at = CASE WHEN :edited THEN :now ELSE changed_at END
            """,
            row,
        )

    def set_tags(self, article_id: str, verdict: Classification) -> None:
        self.db.execute("DELETE FROM tags WHERE article_id = :id", {"id": article_id})
        self.db.executemany(
            "INSERT INTO tags (article_id, tag, rank, score) VALUES (:id, :tag, :rank, :score)",
            [
                {"id": article_id, "tag": tag, "rank": rank, "score": verdict.scores.get(tag, 0.0)}
                for rank, tag in enumerate(verdict.tags)
            ],
        )

    def articles(self) -> Iterator[Article]:
        """Every stored article, in id order (streamed, not loaded whole)."""
        for row in self.db.execute(f"SELECT {_ARTICLE_COLUMNS} FROM articles a ORDER BY id"):
            yield self._article(row)

    def count_articles(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM articles").fetchone()[0])

    def tag_counts(self) -> dict[str, int]:
        """How many articles carry each tag ("" for untagged)."""
        counts = dict(self.db.execute("SELECT tag, count(*) FROM tags GROUP BY tag ORDER BY tag"))
        counts[""] = self.db.execute(
            "SELECT count(*) FROM articles WHERE id NOT IN (SELECT article_id FROM tags)"
        ).fetchone()[0]
        return counts

    def entries(self, tag: str | None = None, limit: int | None = None) -> list[Entry]:
        """Published entries, newest first (ties by id, descending), optionally of one tag."""
        where = (
            "" if tag is None else "WHERE a.id IN (SELECT article_id FROM tags WHERE tag = :tag)"
        )
        sql = (
            f"SELECT {_ARTICLE_COLUMNS}, {_ENTRY_COLUMNS} FROM articles a {where} "
            "ORDER BY a.published DESC, a.id DESC LIMIT :limit"
        )
        rows = self.db.execute(sql, {"tag": tag, "limit": -1 if limit is None else limit})
        return [self._entry(row) for row in rows]

    def entries_published(self, start: datetime, end: datetime) -> list[Entry]:
        """Entries published in [start, end), newest first."""
        return self._entries_where("a.published >= :start AND a.published < :end", start, end)

    def entries_first_seen(self, start: datetime, end: datetime) -> list[Entry]:
        """Entries first stored by a poll in [start, end), newest first."""
        return self._entries_where("a.first_seen >= :start AND a.first_seen < :end", start, end)

    def _entries_where(self, condition: str, start: datetime, end: datetime) -> list[Entry]:
        sql = (
            f"SELECT {_ARTICLE_COLUMNS}, {_ENTRY_COLUMNS} FROM articles a WHERE {condition} "
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

    # -- Meta and polls ----------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = :key", {"key": key}).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (:key, :value) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            {"key": key, "value": value},
        )

    def record_poll(self, poll: PollRecord) -> None:
        self.db.execute(
            """
            INSERT INTO polls (finished_at, corpus_path, size, mtime_ns, new, updated, unchanged,
                               skipped, resume_offset, resume_lines, resume_check)
            VALUES (:finished_at, :corpus_path, :size, :mtime_ns, :new, :updated, :unchanged,
                    :skipped, :resume_offset, :resume_lines, :resume_check)
            """,
            {**asdict(poll), "finished_at": to_db_time(poll.finished_at)},
        )
        # Keep a short history for `feeder status`, not an ever-growing log.
        self.db.execute("DELETE FROM polls WHERE id <= (SELECT max(id) FROM polls) - 100")

    def last_poll(self) -> PollRecord | None:
        row = self.db.execute(
            """
            SELECT finished_at, corpus_path, size, mtime_ns, new, updated, unchanged, skipped,
                   resume_offset, resume_lines, resume_check
            FROM polls ORDER BY id DESC LIMIT 1
            """
        ).fetchone()
        if row is None:
            return None
        return PollRecord(from_db_time(row[0], self.tz), *row[1:])


_ARTICLE_COLUMNS = (
    "a.id, a.title, a.url, a.published, a.account, a.content, a.source, a.author, a.editor"
)
# Tags in rank order, primary first, as one comma-joined text (tag ids have no commas).
_ENTRY_COLUMNS = (
    "a.first_seen, a.changed_at, "
    "(SELECT group_concat(tag, ',') FROM "
    "(SELECT tag FROM tags t WHERE t.article_id = a.id ORDER BY rank))"
)
