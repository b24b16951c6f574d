"""The state's schema: one migration step per version.

Each step upgrades the schema by one version, inside the caller's transaction. Never edit
a step once released: add one.

SQLite records the version in PRAGMA user_version and runs every step from v1. PostgreSQL
starts from a baseline equal in meaning to v6 (storage/postgres.py) and records the version
in its `schema_version` table. Steps after v6 run on both engines, so they are written once
in SQL both accept: plain CREATE TABLE / CREATE INDEX / ALTER TABLE ADD COLUMN, column types
spelled TEXT, INTEGER and REAL in capitals (names in lower case). On PostgreSQL those types
are read as TEXT COLLATE "C" (sorted by code point, as SQLite sorts), BIGINT and DOUBLE
PRECISION (engine.pg_ddl), so a step means the same on both. Avoid SQLite-only forms
(INSERT OR REPLACE: use ON CONFLICT; rowid; AUTOINCREMENT; PRAGMA). To add one: write a
function `_vN(db: Connection)` that runs `_script(db, <the DDL>)`, and append it to
MIGRATIONS; tests/storage/test_storage.py and the PostgreSQL fixtures run it on both engines.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from .engine import Connection


def _script(db: Connection, sql: str) -> None:
    """Run several statements inside the open transaction (executescript would commit it)."""
    statement = ""
    for line in sql.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""


def _v1(db: Connection) -> None:
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


def _v2(db: Connection) -> None:
    # The newsletter: who receives it, what each weekly issue holds, and one ledger row per
    # (issue, recipient) so that a resumed or repeated send never mails anyone twice.
    _script(
        db,
        """
        CREATE TABLE subscribers (
            email TEXT PRIMARY KEY COLLATE NOCASE,  -- normalised; one row per mailbox
            name TEXT NOT NULL,           -- display name for the To header, may be empty
            added_at TEXT NOT NULL,       -- UTC: when last (re)subscribed
            removed_at TEXT               -- UTC: when unsubscribed; NULL while subscribed
        );

        CREATE TABLE issues (
            key TEXT PRIMARY KEY,         -- ISO week, "2026-W05"
            status TEXT NOT NULL CHECK (status IN ('sending', 'partial', 'sent', 'skipped')),
            frozen_at TEXT NOT NULL,      -- UTC: when its content was fixed (or it was skipped)
            finished_at TEXT,             -- UTC: when the last send run over it ended
            articles INTEGER NOT NULL,    -- articles of its own week
            late INTEGER NOT NULL,        -- earlier weeks' articles that came too late for them
            subject TEXT,                 -- the frozen message; NULL for a skipped week
            html TEXT,
            text TEXT
        );

        -- Which issue carried each article: UNIQUE, so no article is in two issues.
        CREATE TABLE issue_articles (
            issue TEXT NOT NULL REFERENCES issues (key),
            article_id TEXT NOT NULL UNIQUE,
            late INTEGER NOT NULL,        -- 1 if it came in the section for earlier weeks
            position INTEGER NOT NULL,    -- order in the issue
            PRIMARY KEY (issue, article_id)
        );

        CREATE TABLE deliveries (
            issue TEXT NOT NULL REFERENCES issues (key),
            email TEXT NOT NULL COLLATE NOCASE,
            status TEXT NOT NULL
                CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
            attempts INTEGER NOT NULL,    -- send runs that claimed it
            updated_at TEXT NOT NULL,     -- UTC: the last transition
            detail TEXT,                  -- the last error or refusal, for the operator
            UNIQUE (issue, email)
        );
        CREATE INDEX deliveries_by_status ON deliveries (status, issue);
        """,
    )


def _v3(db: Connection) -> None:
    # A checksum of the whole corpus file: a file rewritten with the same bytes (a new
    # mtime, say) is then known unchanged without parsing it.
    db.execute("ALTER TABLE polls ADD COLUMN corpus_check TEXT")


def _v4(db: Connection) -> None:
    # The column holds the digest of the corpus record as read, not a hash of the content.
    db.execute("ALTER TABLE articles RENAME COLUMN content_hash TO digest")


def _v5(db: Connection) -> None:
    # Subscribers serve themselves: a status instead of removed_at (a web sign-up waits for
    # its confirmation), the sections they chose, and a random reference that signed links
    # name instead of the address. Each recipient gets the edition of their sections, so the
    # ledger records which; a recipient whose sections were all empty is recorded, not
    # mailed. Form tokens are single-use. SQLite cannot change a CHECK: the two tables are
    # rebuilt.
    _script(
        db,
        """
        CREATE TABLE subscribers_v5 (
            email TEXT PRIMARY KEY COLLATE NOCASE,  -- normalised; one row per mailbox
            name TEXT NOT NULL,           -- display name for the To header, may be empty
            status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed')),
            tags TEXT,                    -- chosen tag ids, space-separated; NULL: everything
            since TEXT NOT NULL,          -- UTC: when the status last changed
            ref TEXT NOT NULL UNIQUE,     -- random; what signed links name instead of the address
            mailed_at TEXT                -- UTC: the last confirmation or preferences mail
        );
        INSERT INTO subscribers_v5 (email, name, status, tags, since, ref)
            SELECT email, name,
                   CASE WHEN removed_at IS NULL THEN 'active' ELSE 'unsubscribed' END,
                   NULL, coalesce(removed_at, added_at), lower(hex(randomblob(16)))
            FROM subscribers;
        DROP TABLE subscribers;
        ALTER TABLE subscribers_v5 RENAME TO subscribers;

        CREATE TABLE deliveries_v5 (
            issue TEXT NOT NULL REFERENCES issues (key),
            email TEXT NOT NULL COLLATE NOCASE,
            status TEXT NOT NULL CHECK (status IN
                ('pending', 'sending', 'sent', 'failed', 'cancelled', 'empty')),
            attempts INTEGER NOT NULL,    -- send runs that claimed it
            updated_at TEXT NOT NULL,     -- UTC: the last transition
            detail TEXT,                  -- the last error or refusal, for the operator
            edition TEXT NOT NULL,        -- which issue_editions row they get; '*': every section
            UNIQUE (issue, email)
        );
        INSERT INTO deliveries_v5
            SELECT issue, email, status, attempts, updated_at, detail, '*' FROM deliveries;
        DROP TABLE deliveries;
        ALTER TABLE deliveries_v5 RENAME TO deliveries;
        CREATE INDEX deliveries_by_status ON deliveries (status, issue);

        -- One rendering per distinct choice of sections, with placeholders where each
        -- recipient's own links go. An issue frozen before v5 has none: its recipients get
        -- the message in issues, as before.
        CREATE TABLE issue_editions (
            issue TEXT NOT NULL REFERENCES issues (key),
            edition TEXT NOT NULL,
            subject TEXT NOT NULL,
            html TEXT NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (issue, edition)
        );

        CREATE TABLE form_nonces (
            nonce TEXT PRIMARY KEY,       -- a web form's single-use token, once it was used
            used_at TEXT NOT NULL         -- UTC; forgotten once the form would be too old anyway
        );
        """,
    )


def _v6(db: Connection) -> None:
    # Bounces prune the list: a refused address becomes 'bounced' (with the reason), and soft
    # failures are counted per consecutive issue. Each issue adds up how long its sends took.
    _script(
        db,
        """
        CREATE TABLE subscribers_v6 (
            email TEXT PRIMARY KEY COLLATE NOCASE,  -- normalised; one row per mailbox
            name TEXT NOT NULL,           -- display name for the To header, may be empty
            status TEXT NOT NULL
                CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced')),
            tags TEXT,                    -- chosen tag ids, space-separated; NULL: everything
            since TEXT NOT NULL,          -- UTC: when the status last changed
            ref TEXT NOT NULL UNIQUE,     -- random; what signed links name instead of the address
            mailed_at TEXT,               -- UTC: the last confirmation or preferences mail
            soft_failures INTEGER NOT NULL DEFAULT 0,  -- consecutive issues that soft-failed
            soft_issue TEXT,              -- the last issue counted there (once per issue)
            bounce TEXT                   -- why the address was marked bounced
        );
        INSERT INTO subscribers_v6 (email, name, status, tags, since, ref, mailed_at)
            SELECT email, name, status, tags, since, ref, mailed_at FROM subscribers;
        DROP TABLE subscribers;
        ALTER TABLE subscribers_v6 RENAME TO subscribers;
        CREATE INDEX subscribers_by_status ON subscribers (status, email);

        ALTER TABLE issues ADD COLUMN send_seconds REAL NOT NULL DEFAULT 0;
        """,
    )


# The last version PostgreSQL's baseline lays down; every step after it is portable.
BASELINE = 6


def _v7(db: Connection) -> None:
    # A person's verdict on an article's tags (`feeder label`), kept apart from the tags the
    # categoriser writes so that a retuned taxonomy or an edited article never loses it.
    # Plain types only: the same DDL serves other backends.
    _script(
        db,
        """
        CREATE TABLE labels (
            article_id TEXT PRIMARY KEY,  -- the article's id, as in articles.id
            primary_tag TEXT,             -- the tag it must have first; NULL: no tag at all
            also TEXT NOT NULL,           -- further tags after it, space-separated, may be ''
            labelled_at TEXT NOT NULL     -- UTC: when the verdict was recorded
        );
        """,
    )


def _v8(db: Connection) -> None:
    # Several daemons share one send: a claim says when and by whom, so that a batch whose
    # daemon died is taken over once its claim has expired.
    _script(
        db,
        """
        ALTER TABLE deliveries ADD COLUMN claimed_at TEXT;  -- UTC: when a run claimed it
        ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;  -- which run: host, pid and a nonce
        """,
    )


def _v9(db: Connection) -> None:
    # Archived feeds (RFC 5005) and per-account feeds. Every feed's members in the order they
    # arrived, so that an archive page holds a fixed range of arrivals and never moves; the
    # pages written, so that a publish rewrites only those whose content changed; the articles
    # written since the last publish, whose feeds may have changed; each account's slug,
    # chosen once. Plain types and keys only: the DDL is meant to port to other databases.
    _script(
        db,
        """
        CREATE TABLE feed_members (
            feed TEXT NOT NULL,           -- "all", a tag id, a custom feed, "account/<slug>"
            seq INTEGER NOT NULL,         -- 1, 2, 3… in the order articles joined the feed
            article_id TEXT NOT NULL,
            PRIMARY KEY (feed, seq),
            UNIQUE (feed, article_id)
        );

        CREATE TABLE archive_pages (
            feed TEXT NOT NULL,
            n INTEGER NOT NULL,           -- 1 is the oldest page
            shape TEXT NOT NULL,          -- what the page was written for: size, range, links, head
            PRIMARY KEY (feed, n)
        );

        CREATE TABLE feed_pending (
            article_id TEXT PRIMARY KEY   -- written since the last publish: its feeds may change
        );
        INSERT INTO feed_pending (article_id) SELECT id FROM articles;

        CREATE TABLE accounts (
            name TEXT PRIMARY KEY,        -- the 公众号名称 as the corpus spells it
            slug TEXT UNIQUE NOT NULL     -- its feed's file name, chosen once
        );
        """,
    )


MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9]
SCHEMA_VERSION = len(MIGRATIONS)
