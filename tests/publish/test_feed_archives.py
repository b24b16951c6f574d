"""Archived feeds (RFC 5005 §4): the subscription document holds the newest arrivals, the
older ones sit in archive pages that link each other, and a page is rewritten only when
what it holds changed."""

from __future__ import annotations

import os
import shutil
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from feeder.config import parse_config
from feeder.errors import ConfigError
from feeder.model import Article, Classification
from feeder.publish import publish
from feeder.publish.feeds import entry_id
from feeder.publish.history import plan_pages
from tests.conftest import (
    FEED_TAGS,
    SHANGHAI,
    FeedState,
    Site,
    make_article,
    open_feed_state,
    run_poll,
)

BASE = "http://127.0.0.1:8000/"
ATOM = "{http://www.w3.org/2005/Atom}"
HISTORY = "{http://purl.org/syndication/history/1.0}"
OLD = 1_000_000_000  # an mtime long past, to see which files a publish touched


def corpus(count: int, start: int = 0) -> list[tuple[Article, tuple[str, ...]]]:
    """`count` articles an hour apart, alternately policy and research."""
    first = datetime(2025, 6, 1, 8, tzinfo=SHANGHAI)
    return [
        (
            make_article(
                f"a{i:04d}", (first + timedelta(hours=i)).isoformat(), f"第{i}篇", f"正文{i}。"
            ),
            ("policy",) if i % 2 == 0 else ("research",),
        )
        for i in range(start, start + count)
    ]


@pytest.fixture
def paged(tmp_path: Path) -> Iterator[FeedState]:
    state = open_feed_state(tmp_path, BASE, "max_entries = 50\narchive_size = 100\n")
    yield state
    state.feeder.close()


def walk(out: Path, name: str) -> tuple[list[str], list[Path]]:
    """Follow prev-archive from the feed's Atom document: every entry id met, in order,
    and every archive page visited."""
    ids: list[str] = []
    pages: list[Path] = []
    doc: Path | None = out / f"feeds/{name}.atom"
    while doc is not None:
        root = ET.parse(doc).getroot()
        ids += [entry.findtext(f"{ATOM}id") or "" for entry in root.iter(f"{ATOM}entry")]
        prev = [
            link.get("href", "")
            for link in root.iter(f"{ATOM}link")
            if link.get("rel") == "prev-archive"
        ]
        doc = out / prev[0].removeprefix(BASE) if prev else None
        if doc is not None:
            pages.append(doc)
    return ids, pages


def archive(out: Path, name: str) -> dict[Path, tuple[bytes, int]]:
    """Every archive page of a feed with its bytes and mtime, after setting the mtime old."""
    found = {}
    for path in sorted((out / "feeds/archive" / name).glob("*.atom")):
        os.utime(path, (OLD, OLD))
        found[path] = (path.read_bytes(), path.stat().st_mtime_ns)
    return found


def changed(before: dict[Path, tuple[bytes, int]]) -> list[str]:
    """The pages whose bytes or mtime differ from `before` (or that are gone)."""
    return [
        path.name
        for path, (data, mtime) in before.items()
        if not path.exists() or path.read_bytes() != data or path.stat().st_mtime_ns != mtime
    ]


def test_prev_archive_reaches_every_article_exactly_once(paged: FeedState) -> None:
    paged.poll(corpus(600))
    out = paged.out
    ids, pages = walk(out, "all")
    assert sorted(ids) == sorted(entry_id(f"a{i:04d}") for i in range(600))
    assert len(ids) == len(set(ids)) == 600
    # 550 archived in pages of 100, page 1 the oldest: the newest page holds the last 50.
    assert [p.name for p in pages] == ["6.atom", "5.atom", "4.atom", "3.atom", "2.atom", "1.atom"]
    oldest = ET.parse(pages[-1]).getroot()
    assert {e.findtext(f"{ATOM}id") for e in oldest.iter(f"{ATOM}entry")} == {
        entry_id(f"a{i:04d}") for i in range(100)
    }
    policy, _ = walk(out, "policy")
    assert sorted(policy) == sorted(entry_id(f"a{i:04d}") for i in range(0, 600, 2))
    assert len(policy) == len(set(policy))


def test_archive_pages_link_each_other_and_read_cleanly(paged: FeedState) -> None:
    paged.poll(corpus(600))
    out = paged.out
    for n in range(1, 7):
        parsed = feedparser.parse((out / f"feeds/archive/all/{n}.atom").read_bytes())
        assert parsed.bozo == 0, parsed.bozo_exception
        links = {link.rel: link.href for link in parsed.feed.links}
        assert links["self"] == f"{BASE}feeds/archive/all/{n}.atom"
        assert links["current"] == f"{BASE}feeds/all.atom"
        assert links.get("prev-archive") == (
            f"{BASE}feeds/archive/all/{n - 1}.atom" if n > 1 else None
        )
        assert links.get("next-archive") == (
            f"{BASE}feeds/archive/all/{n + 1}.atom" if n < 6 else None
        )
        assert len(parsed.entries) == (100 if n < 6 else 50)
        # Summaries only: the archive pages carry no full text.
        assert all("content" not in entry for entry in parsed.entries)
        assert all(entry.summary for entry in parsed.entries)
        root = ET.parse(out / f"feeds/archive/all/{n}.atom").getroot()
        assert root.find(f"{HISTORY}archive") is not None
    # The subscription documents link the newest page, in Atom and in RSS.
    atom = feedparser.parse((out / "feeds/all.atom").read_bytes())
    assert {link.rel: link.href for link in atom.feed.links}["prev-archive"] == (
        f"{BASE}feeds/archive/all/6.atom"
    )
    assert len(atom.entries) == 50
    rss = (out / "feeds/all.rss").read_text(encoding="utf-8")
    assert f'<atom:link href="{BASE}feeds/archive/all/6.atom" rel="prev-archive"' in rss
    assert feedparser.parse(rss.encode()).bozo == 0


def test_a_second_publish_writes_nothing(paged: FeedState) -> None:
    paged.poll(corpus(600))
    before = archive(paged.out, "all")
    with paged.store.transaction():
        assert publish(paged.store, FEED_TAGS, paged.config) == []
    assert changed(before) == []


def test_an_append_rewrites_only_the_newest_pages(paged: FeedState) -> None:
    paged.poll(corpus(600))
    before = archive(paged.out, "all")
    written = paged.poll(corpus(30, start=600))  # page 6 grows from 50 to 80
    assert changed(before) == ["6.atom"]
    assert paged.out / "feeds/archive/all/6.atom" in written
    before = archive(paged.out, "all")
    paged.poll(corpus(100, start=630))  # page 6 fills, page 7 begins: 6 gains its next link
    assert changed(before) == ["6.atom"]
    assert (paged.out / "feeds/archive/all/7.atom").exists()
    ids, _ = walk(paged.out, "all")
    assert len(ids) == len(set(ids)) == 730


def test_a_late_article_joins_the_newest_page_not_an_old_one(paged: FeedState) -> None:
    paged.poll(corpus(600))
    before = archive(paged.out, "all")
    late = make_article("late", "2020-01-01", "补发的旧文", "很久以前的正文。")
    paged.poll([(late, ("policy",))])
    # It arrived last: the subscription document shows it; the archive pages are as they were
    # but for the newest, which took the member it pushed out.
    assert changed(before) == ["6.atom"]
    assert entry_id("late") in (paged.out / "feeds/all.atom").read_text(encoding="utf-8")


def test_an_edited_article_rewrites_only_its_page(paged: FeedState) -> None:
    articles = corpus(600)
    paged.poll(articles)
    before = archive(paged.out, "all")
    before_policy = archive(paged.out, "policy")
    article, tags = articles[150]  # arrived 151st: page 2 of "all", page 1 of "policy"
    edited = replace(article, title="改过的标题")
    paged.poll([(edited, tags)], now=datetime(2026, 3, 1, tzinfo=SHANGHAI))
    assert changed(before) == ["2.atom"]
    assert changed(before_policy) == ["1.atom"]
    assert "改过的标题" in (paged.out / "feeds/archive/all/2.atom").read_text(encoding="utf-8")


def test_a_retagged_article_leaves_its_page_and_joins_the_other_feed(paged: FeedState) -> None:
    paged.poll(corpus(600))
    policy = archive(paged.out, "policy")
    research = archive(paged.out, "research")
    with paged.store.transaction():
        paged.store.set_tags("a0010", Classification(("research",)))  # policy's 6th arrival
        publish(paged.store, FEED_TAGS, paged.config)
    assert changed(policy) == ["1.atom"]
    assert entry_id("a0010") not in (paged.out / "feeds/archive/policy/1.atom").read_text("utf-8")
    # Research gains it as its newest arrival: its subscription document, and its newest
    # archive page takes the member pushed out.
    assert entry_id("a0010") in (paged.out / "feeds/research.atom").read_text(encoding="utf-8")
    assert changed(research) == [sorted(research)[-1].name]
    ids, _ = walk(paged.out, "policy")
    assert len(ids) == 299 and entry_id("a0010") not in ids
    ids, _ = walk(paged.out, "research")
    assert len(ids) == len(set(ids)) == 301


def test_a_deleted_page_file_is_written_again(paged: FeedState) -> None:
    paged.poll(corpus(300))
    page = paged.out / "feeds/archive/all/1.atom"
    data = page.read_bytes()
    page.unlink()
    with paged.store.transaction():
        written = publish(paged.store, FEED_TAGS, paged.config)
    assert written == [page]
    assert page.read_bytes() == data


def test_a_new_page_size_rewrites_the_pages_and_drops_the_extra_ones(tmp_path: Path) -> None:
    state = open_feed_state(tmp_path, BASE, "max_entries = 50\narchive_size = 100\n")
    state.poll(corpus(600))
    state.feeder.close()
    wider = open_feed_state(tmp_path, BASE, "max_entries = 50\narchive_size = 200\n")
    with wider.store.transaction():
        publish(wider.store, FEED_TAGS, wider.config)
    wider.feeder.close()
    assert sorted(p.name for p in (tmp_path / "out/feeds/archive/all").iterdir()) == [
        "1.atom",
        "2.atom",
        "3.atom",
    ]
    ids, pages = walk(tmp_path / "out", "all")
    assert len(ids) == len(set(ids)) == 600 and len(pages) == 3


def test_plan_pages_writes_what_changed() -> None:
    first = plan_pages(250, 100, "h", {})
    assert (first.count, first.write, first.drop) == (3, (1, 2, 3), ())
    assert first.seqs(3) == (201, 250)
    # Nothing changed: nothing to write. The newest page grew: only it.
    assert plan_pages(250, 100, "h", first.shapes).write == ()
    assert plan_pages(260, 100, "h", first.shapes).write == (3,)
    # A new page: the one before gains its next link. A missing file, a new head.
    assert plan_pages(320, 100, "h", first.shapes).write == (3, 4)
    assert plan_pages(250, 100, "h", first.shapes, {2}).write == (2,)
    assert plan_pages(250, 100, "other", first.shapes).write == (1, 2, 3)
    # Fewer archived (members left the feed): the page beyond goes.
    assert plan_pages(150, 100, "h", first.shapes).drop == (3,)
    assert plan_pages(0, 100, "h", {}).count == 0


@pytest.mark.parametrize("value", ["0", "-1", '"100"', "1.5", "true"])
def test_archive_size_must_be_a_positive_whole_number(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"output\.archive_size"):
        parse_config(f"[output]\narchive_size = {value}\n", tmp_path)


def test_a_state_from_before_archives_gets_them_on_an_unchanged_poll(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(extra="max_entries = 20\narchive_size = 10\n")  # the 54 seed articles
    run_poll(site.config)
    first, _ = walk(site.out, "all")
    # Back to schema v8, as a state written before archived feeds: the upgrade makes every
    # article pending, and the next poll publishes them though the corpus is unchanged.
    db = sqlite3.connect(site.state)
    with db:
        for table in ("feed_members", "archive_pages", "feed_pending", "accounts"):
            db.execute(f"DROP TABLE {table}")
        db.execute("DELETE FROM meta WHERE key = 'feed_definitions'")
        db.execute("PRAGMA user_version = 8")
    db.close()
    shutil.rmtree(site.out / "feeds/archive")
    result = run_poll(site.config)
    assert not result.read
    ids, pages = walk(site.out, "all")
    assert len(ids) == len(set(ids)) == 54 and len(pages) == 4
    assert sorted(ids) == sorted(first)
