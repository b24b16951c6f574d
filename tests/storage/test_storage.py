"""The state on both engines: schema versions, articles, tags, entries, transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feeder.errors import StateError
from feeder.model import Article, Classification, WriteMode
from feeder.storage import Storage, article_row, open_storage
from feeder.storage.copy import TABLES
from feeder.storage.schema import SCHEMA_VERSION
from tests.conftest import fixture_digest, store_articles

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 2, 6, 1, 2, 3, tzinfo=UTC)


def article(ident: str, day: int = 5, content: str = "正文") -> Article:
    return Article(
        id=ident,
        title=f"标题 {ident}",
        url=f"https://example.org/{ident}",
        published=datetime(2026, 2, day, tzinfo=TZ),
        account="上海科技",
        content=content,
    )


@pytest.fixture
def backend(both_backends: str) -> str:
    return both_backends


@pytest.fixture
def store(state_location: Path | str) -> Iterator[Storage]:
    with open_storage(state_location, TZ) as storage:
        yield storage


def put(store: Storage, a: Article, tags: tuple[str, ...] = (), edited: bool = False) -> None:
    row = article_row(a, fixture_digest(a), Classification(tags, {t: 1.0 for t in tags}))
    with store.transaction():
        store.put_articles([row], NOW, [WriteMode.EDIT if edited else WriteMode.INSERT])


def test_new_file_gets_the_current_schema_version(tmp_path: Path) -> None:
    open_storage(tmp_path / "sub" / "state.db", TZ).close()
    db = sqlite3.connect(tmp_path / "sub" / "state.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_state_copy_knows_every_table_of_the_schema(tmp_path: Path) -> None:
    # A table added by a migration but not listed for `state copy` would be left behind.
    open_storage(tmp_path / "state.db", TZ).close()
    db = sqlite3.connect(tmp_path / "state.db")
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert names == {table for table, _ in TABLES}


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateError, match="newer"):
        open_storage(tmp_path / "state.db", TZ)


def test_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match=r"state\.db"):
        open_storage(tmp_path / "state.db", TZ)


def test_article_round_trip_keeps_the_zone(store: Storage) -> None:
    a = article("x")
    put(store, a, ("policy", "industry"))
    [entry] = store.entries()
    assert entry.article == a
    assert entry.article.published.utcoffset() == a.published.utcoffset()
    assert entry.tags == ("policy", "industry")
    assert entry.updated == a.published
    assert entry.first_seen == NOW


def test_an_edit_moves_updated_but_not_first_seen(store: Storage) -> None:
    put(store, article("x"))
    later = datetime(2026, 2, 7, tzinfo=UTC)
    edited = article("x", content="新正文")
    with store.transaction():
        store_articles(store, [(edited, ())], later, edited=True)
    [entry] = store.entries()
    assert entry.article.content == "新正文"
    assert entry.updated == later
    assert entry.first_seen == NOW


def test_entries_newest_first_ties_by_id_and_by_tag(store: Storage) -> None:
    put(store, article("a", day=4), ("policy",))
    put(store, article("b", day=5), ("research",))
    put(store, article("c", day=5), ("policy",))
    assert [e.article.id for e in store.entries()] == ["c", "b", "a"]
    assert [e.article.id for e in store.entries("policy")] == ["c", "a"]
    assert [e.article.id for e in store.entries(limit=1)] == ["c"]
    assert store.tag_counts() == {"policy": 2, "research": 1, "": 0}


def test_entries_published_in_a_range(store: Storage) -> None:
    for day in (3, 4, 5):
        put(store, article(f"d{day}", day=day))
    start = datetime(2026, 2, 4, tzinfo=TZ)
    end = datetime(2026, 2, 5, tzinfo=TZ)
    assert [e.article.id for e in store.entries_published(start, end)] == ["d4"]


def test_a_failed_transaction_leaves_nothing(store: Storage) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        row = article_row(article("x"), "h", Classification(()))
        store.put_articles([row], NOW, [WriteMode.INSERT])
        raise RuntimeError("crash")
    assert store.count_articles() == 0


def test_an_id_twice_in_one_batch_is_written_once_as_its_last_row(store: Storage) -> None:
    first, second = article("x", content="第一版"), article("x", content="第二版")
    rows = [
        article_row(first, "d1", Classification(("policy",), {"policy": 5.0})),
        article_row(second, "d2", Classification(("policy", "industry"), {"policy": 6.0})),
    ]
    with store.transaction():
        store.put_articles(rows, NOW, [WriteMode.INSERT, WriteMode.REWRITE])
    [entry] = store.entries()
    assert entry.article.content == "第二版" and entry.tags == ("policy", "industry")
    assert store.digest_of("x") == "d2"
