"""The SQLite state: schema versions, articles, tags, entries, transactions."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feeder.errors import StateError
from feeder.model import Article, Classification
from feeder.store import SCHEMA_VERSION, Row, Store

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
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "state.db", TZ)


def put(store: Store, a: Article, tags: tuple[str, ...] = (), edited: bool = False) -> None:
    with store.transaction():
        store.put_article(a, a.content_hash, NOW, edited=edited)
        store.set_tags(a.id, Classification(tags, {t: 1.0 for t in tags}))


def test_new_file_gets_the_current_schema_version(tmp_path: Path) -> None:
    Store.open(tmp_path / "sub" / "state.db", TZ).close()
    db = sqlite3.connect(tmp_path / "sub" / "state.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateError, match="newer"):
        Store.open(tmp_path / "state.db", TZ)


def test_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match=r"state\.db"):
        Store.open(tmp_path / "state.db", TZ)


def test_article_round_trip_keeps_the_zone(store: Store) -> None:
    a = article("x")
    put(store, a, ("policy", "industry"))
    [entry] = store.entries()
    assert entry.article == a
    assert entry.article.published.utcoffset() == a.published.utcoffset()
    assert entry.tags == ("policy", "industry")
    assert entry.updated == a.published
    assert entry.first_seen == NOW


def test_an_edit_moves_updated_but_not_first_seen(store: Store) -> None:
    put(store, article("x"))
    later = datetime(2026, 2, 7, tzinfo=UTC)
    edited = article("x", content="新正文")
    with store.transaction():
        store.put_article(edited, edited.content_hash, later, edited=True)
    [entry] = store.entries()
    assert entry.article.content == "新正文"
    assert entry.updated == later
    assert entry.first_seen == NOW


def test_entries_newest_first_ties_by_id_and_by_tag(store: Store) -> None:
    put(store, article("a", day=4), ("policy",))
    put(store, article("b", day=5), ("research",))
    put(store, article("c", day=5), ("policy",))
    assert [e.article.id for e in store.entries()] == ["c", "b", "a"]
    assert [e.article.id for e in store.entries("policy")] == ["c", "a"]
    assert [e.article.id for e in store.entries(limit=1)] == ["c"]
    assert store.tag_counts() == {"policy": 2, "research": 1, "": 0}


def test_entries_published_in_a_range(store: Store) -> None:
    for day in (3, 4, 5):
        put(store, article(f"d{day}", day=day))
    start = datetime(2026, 2, 4, tzinfo=TZ)
    end = datetime(2026, 2, 5, tzinfo=TZ)
    assert [e.article.id for e in store.entries_published(start, end)] == ["d4"]


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.put_article(article("x"), "h", NOW, edited=False)
        raise RuntimeError("crash")
    assert store.count_articles() == 0


def test_an_id_twice_in_one_batch_is_written_once_as_its_last_row(store: Store) -> None:
    first, second = article("x", content="第一版"), article("x", content="第二版")
    rows = [
        Row.of(first, "d1", Classification(("policy",), {"policy": 5.0})),
        Row.of(second, "d2", Classification(("policy", "industry"), {"policy": 6.0})),
    ]
    with store.transaction():
        store.put_articles(rows, NOW, ["new", "unchanged"])
    [entry] = store.entries()
    assert entry.article.content == "第二版" and entry.tags == ("policy", "industry")
    assert store.digest_of("x") == "d2"
