"""Every feed in three formats: the RSS 2.0 and JSON Feed 1.1 documents hold the Atom
document's entries, in its order, under its ids; read back by feedparser, checked against the
JSON Feed 1.1 spec, and fetched over HTTP by a real feed reader.

Regenerate the golden RSS and JSON feeds after an intended change, then review their diff:
    FEEDER_REGOLD=1 .venv/bin/pytest tests/publish/test_formats.py -k golden
"""

from __future__ import annotations

import html
import json
import os
import re
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from reader import make_reader
from reader.types import UpdatedFeed

from feeder.model import Entry
from feeder.publish import build_site
from feeder.publish.feeds import EMPTY_FEED_UPDATED, entry_id
from feeder.site import FORMATS, feed_path, site_files
from tests.conftest import (
    FEED_TAGS,
    GOLDEN,
    POLL_TIME,
    SHANGHAI,
    FeedState,
    Served,
    make_article,
    open_feed_state,
    sample_articles,
)

ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
FEED_NAMES = ["all", "policy", "research", "industry"]
LABELS = {tag.id: tag.label for tag in FEED_TAGS}
BASE = "http://127.0.0.1:8000/"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
# RFC 3339 date-time: full date, "T", full time with optional fraction, then Z or an offset.
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def read(state: FeedState, name: str, fmt: str) -> bytes:
    return (state.out / feed_path(name, fmt)).read_bytes()


def atom_entries(data: bytes) -> list[ET.Element]:
    return ET.fromstring(data).findall(f"{ATOM}entry")


def rss_items(data: bytes) -> list[ET.Element]:
    return ET.fromstring(data).findall("./channel/item")


def json_feed(data: bytes) -> dict[str, Any]:
    """The document, after checking it against the JSON Feed 1.1 spec
    (https://www.jsonfeed.org/version/1.1/): what must be there, and each field's type."""
    assert data.endswith(b"}\n") and not data.endswith(b"\n\n")
    document = json.loads(data.decode("utf-8"))
    assert isinstance(document, dict)
    assert document["version"] == JSON_FEED_VERSION
    assert isinstance(document["title"], str) and document["title"]
    assert isinstance(document["items"], list)
    known = {"home_page_url", "feed_url", "description", "language", "authors"}
    assert set(document) - {"version", "title", "items"} <= known
    for key in ("home_page_url", "feed_url", "description", "language"):
        assert isinstance(document.get(key, ""), str), key
    for url in (document["home_page_url"], document["feed_url"]):
        assert url.startswith(("http://", "https://")), url
    _check_authors(document["authors"])
    ids = []
    for item in document["items"]:
        assert isinstance(item["id"], str) and item["id"]
        ids.append(item["id"])
        item_keys = {"url", "title", "content_html", "summary", "tags", "authors"}
        item_keys |= {"date_published", "date_modified"}
        assert set(item) - {"id"} <= item_keys, item
        assert isinstance(item["content_html"], str)  # content_html or content_text: required
        for key in ("url", "title", "summary"):
            assert isinstance(item.get(key, ""), str), key
        assert item.get("url", "https://").startswith(("http://", "https://"))
        for key in ("date_published", "date_modified"):
            assert RFC3339.fullmatch(item[key]), item[key]
        assert datetime.fromisoformat(item["date_modified"]) >= datetime.fromisoformat(
            item["date_published"]
        )
        assert isinstance(item["tags"], list) and all(isinstance(t, str) for t in item["tags"])
        _check_authors(item["authors"])
    assert len(set(ids)) == len(ids)  # an id names one item
    return document


def _check_authors(authors: object) -> None:
    assert isinstance(authors, list) and authors
    for author in authors:
        assert isinstance(author, dict) and set(author) == {"name"}
        assert isinstance(author["name"], str) and author["name"]


# -- The same entries in every format ------------------------------------------------------


def test_site_files_list_every_format_of_every_feed() -> None:
    files = site_files(FEED_TAGS)
    for name in FEED_NAMES:
        assert [f"feeds/{name}.{fmt}" for fmt in FORMATS] == [
            f for f in files if f.startswith(f"feeds/{name}.")
        ]
    assert FORMATS == ("atom", "rss", "json")


def test_rss_holds_the_atom_entries_in_order(feed_state: FeedState) -> None:
    feed_state.poll(sample_articles())

    for name in FEED_NAMES:
        atom = feedparser.parse(read(feed_state, name, "atom"))
        rss = feedparser.parse(read(feed_state, name, "rss"))
        assert rss.bozo == 0, (name, rss.get("bozo_exception"))
        assert rss.version == "rss20"
        assert [e.id for e in rss.entries] == [e.id for e in atom.entries], name
        assert [e.guidislink for e in rss.entries] == [False] * len(atom.entries)
        assert rss.feed.title == atom.feed.title
        assert rss.feed.language == "zh-CN"
        # The titles as written, plain text in both (feedparser would guess HTML in RSS).
        atom_titles = [
            e.findtext(f"{ATOM}title") for e in atom_entries(read(feed_state, name, "atom"))
        ]
        rss_titles = [i.findtext("title") for i in rss_items(read(feed_state, name, "rss"))]
        assert rss_titles == atom_titles


def test_rss_channel_and_items(feed_state: FeedState) -> None:
    feed_state.poll(sample_articles())
    data = read(feed_state, "policy", "rss")
    channel = ET.fromstring(data).find("channel")
    assert channel is not None

    assert channel.findtext("link") == "http://127.0.0.1:8000/index.html#policy"
    assert channel.findtext("description") == "上海科技公众号的政策类文章：政府政策、规划与通知"
    assert channel.findtext("generator") == "feeder"
    (self_link,) = channel.findall(f"{ATOM}link")
    assert self_link.attrib == {
        "href": "http://127.0.0.1:8000/feeds/policy.rss",
        "rel": "self",
        "type": "application/rss+xml",
    }
    # The feed's updated, never the build time: the newest entry's date, at +0800.
    assert channel.findtext("lastBuildDate") == "Wed, 04 Feb 2026 00:00:00 +0800"

    atom = {e.findtext(f"{ATOM}id"): e for e in atom_entries(read(feed_state, "policy", "atom"))}
    for item in channel.findall("item"):
        guid = item.find("guid")
        assert guid is not None and guid.get("isPermaLink") == "false"
        entry = atom[guid.text]
        pub_date = item.findtext("pubDate") or ""
        assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0800", pub_date)
        published = entry.findtext(f"{ATOM}published") or ""
        assert parsedate_to_datetime(pub_date) == datetime.fromisoformat(published)
        assert item.findtext("link") == entry.find(f"{ATOM}link").get("href")  # type: ignore[union-attr]
        assert item.findtext(f"{DC}creator") == entry.findtext(f"{ATOM}author/{ATOM}name")
        assert item.find("author") is None  # RSS wants an e-mail address there
        assert [c.text for c in item.findall("category")] == [
            c.get("label") for c in entry.findall(f"{ATOM}category")
        ]
        # The description is the Atom summary as HTML; content:encoded the same content.
        assert html.unescape(item.findtext("description") or "") == entry.findtext(f"{ATOM}summary")
        assert item.findtext(CONTENT) == entry.findtext(f"{ATOM}content")
    both = next(
        i for i in channel.findall("item") if i.findtext("guid") == entry_id("2650224681_1")
    )
    assert [c.text for c in both.findall("category")] == ["政策", "产业"]


def test_rss_description_keeps_markup_as_text(feed_state: FeedState) -> None:
    feed_state.poll(sample_articles())
    (tricky,) = [
        i
        for i in rss_items(read(feed_state, "policy", "rss"))
        if i.findtext("guid") == entry_id("2650224657_2")
    ]
    # HTML that, rendered, shows the article's own "<script>" as characters.
    assert tricky.findtext("description") == (
        "第一段&lt;script&gt;alert('x')&lt;/script&gt;第二行 a &lt; b &amp;&amp; c &gt; d"
        "第二段 &amp;amp; 更多"
    )
    parsed = feedparser.parse(read(feed_state, "policy", "rss"))
    entry = next(e for e in parsed.entries if e.id == entry_id("2650224657_2"))
    assert "<script>" not in entry.summary and "&lt;script&gt;" in entry.summary


def test_json_feed_follows_the_spec_and_holds_the_atom_entries(feed_state: FeedState) -> None:
    feed_state.poll(sample_articles())

    for name in FEED_NAMES:
        document = json_feed(read(feed_state, name, "json"))
        atom = feedparser.parse(read(feed_state, name, "atom"))
        assert document["title"] == atom.feed.title
        assert document["feed_url"] == f"http://127.0.0.1:8000/feeds/{name}.json"
        assert document["home_page_url"] == atom.feed.link
        assert document["description"] == atom.feed.subtitle
        assert document["authors"] == [{"name": "上海科技"}]
        items = document["items"]
        assert [i["id"] for i in items] == [e.id for e in atom.entries], name
        raw = atom_entries(
            read(feed_state, name, "atom")
        )  # as written, not as feedparser cleans it
        for item, entry, element in zip(items, atom.entries, raw, strict=True):
            assert item["title"] == entry.title
            assert item["summary"] == entry.summary
            assert item["content_html"] == element.findtext(f"{ATOM}content")
            assert item["date_published"] == entry.published
            assert item["date_modified"] == entry.updated
            assert item["tags"] == [t.label or t.term for t in entry.get("tags", [])]
            assert item["authors"] == [{"name": entry.author}]
            link = element.find(f"{ATOM}link")
            assert item.get("url") == (None if link is None else link.get("href"))
    first = json_feed(read(feed_state, "all", "json"))["items"][0]
    assert list(first) == [
        "id", "url", "title", "content_html", "summary", "date_published", "date_modified",
        "tags", "authors",
    ]  # fmt: skip
    assert first["authors"] == [{"name": "查睿"}] and first["tags"] == ["科研"]
    no_url = next(i for i in first_items(feed_state) if i["id"] == entry_id("no-url"))
    assert "url" not in no_url and no_url["content_html"] == "<p>只有正文。</p>"


def first_items(state: FeedState) -> list[dict[str, Any]]:
    return json_feed(read(state, "all", "json"))["items"]


def test_json_feed_is_utf8_in_a_stable_layout(feed_state: FeedState) -> None:
    feed_state.poll(sample_articles())
    data = read(feed_state, "policy", "json")

    assert data.startswith(b'{\n  "version": "https://jsonfeed.org/version/1.1",\n  "title"')
    assert "上海科技".encode() in data and b"\\u" not in data  # ensure_ascii=False
    document = json.loads(data)
    assert data == (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()


def test_empty_feeds_in_every_format(feed_state: FeedState) -> None:
    feed_state.poll([])

    for name in FEED_NAMES:
        rss = feedparser.parse(read(feed_state, name, "rss"))
        assert rss.bozo == 0 and rss.entries == []
        channel = ET.fromstring(read(feed_state, name, "rss")).find("channel")
        assert channel is not None
        assert parsedate_to_datetime(channel.findtext("lastBuildDate") or "") == EMPTY_FEED_UPDATED
        assert json_feed(read(feed_state, name, "json"))["items"] == []


def test_an_edit_moves_date_modified_and_last_build_date(feed_state: FeedState) -> None:
    articles = sample_articles()
    feed_state.poll(articles)
    old, tags = articles[4]
    feed_state.poll([(replace(old, content="改过的正文。"), tags)], now=POLL_TIME)

    item = next(i for i in first_items(feed_state) if i["id"] == entry_id(old.id))
    assert (item["date_published"], item["date_modified"]) == (
        "2026-02-03T00:00:00+08:00",
        "2026-02-06T09:00:00+08:00",
    )
    channel = ET.fromstring(read(feed_state, "policy", "rss")).find("channel")
    assert channel is not None
    assert channel.findtext("lastBuildDate") == "Fri, 06 Feb 2026 09:00:00 +0800"


# -- Bytes: stable, rewritten only when changed ----------------------------------------------


def test_a_new_article_rewrites_only_its_feeds_in_every_format(
    feed_state: FeedState, tmp_path: Path
) -> None:
    feed_state.poll(sample_articles())
    again = open_feed_state(tmp_path / "again", BASE)
    again.poll(list(reversed(sample_articles())), now=POLL_TIME + timedelta(days=1))
    for name in FEED_NAMES:
        for fmt in FORMATS:
            assert read(again, name, fmt) == read(feed_state, name, fmt), (name, fmt)

    added = make_article("2650224700_1", "2026-02-06", "新文章", "新的科研成果。")
    written = feed_state.poll([(added, ("research",))], now=POLL_TIME + timedelta(hours=1))

    changed = {p.relative_to(feed_state.out).as_posix() for p in written}
    feeds = {f"feeds/{name}.{fmt}" for name in ("all", "research") for fmt in FORMATS}
    assert changed == feeds | {"index.html"}
    assert feed_state.poll([], now=POLL_TIME + timedelta(hours=2)) == []


def test_hostile_text_stays_inert_in_every_format(feed_state: FeedState) -> None:
    bad = make_article(
        "bad\x01id",
        "2026-02-06",
        "控制\x00字符\x0b<script>alert(1)</script>",
        "正文\x1b含\x7f<script>alert(2)</script>\r\n下一行\uffff",
        url="javascript:alert(1)",
        author="<img src=x onerror=alert(3)>\x07",
    )
    feed_state.poll([*sample_articles(), (bad, ("policy",))])

    rss = read(feed_state, "policy", "rss")
    assert feedparser.parse(rss).bozo == 0
    (item,) = [i for i in rss_items(rss) if i.findtext("guid") == entry_id("bad\x01id")]
    assert item.findtext("title") == "控制字符<script>alert(1)</script>"  # plain text, as in Atom
    assert item.find("link") is None
    assert item.findtext("description") == "正文含&lt;script&gt;alert(2)&lt;/script&gt;下一行"
    assert item.findtext(CONTENT) == "<p>正文含&lt;script&gt;alert(2)&lt;/script&gt;<br/>下一行</p>"
    assert item.findtext(f"{DC}creator") == "<img src=x onerror=alert(3)>"

    data = read(feed_state, "policy", "json")
    assert re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\\u00", data) is None
    (found,) = [i for i in json_feed(data)["items"] if i["id"] == entry_id("bad\x01id")]
    assert "url" not in found
    assert found["title"] == "控制字符<script>alert(1)</script>"  # plain text by the spec
    assert found["content_html"] == "<p>正文含&lt;script&gt;alert(2)&lt;/script&gt;<br/>下一行</p>"


def test_lone_surrogates_never_stop_the_json_feed() -> None:
    article = make_article("id\ud800", title="标题\udc00", content="正文\ud83d", url=None)
    entry = Entry(article, ("policy",), article.published, POLL_TIME)

    site = build_site({"policy": [entry]}, FEED_TAGS, base_url=BASE, account="a", tz=SHANGHAI)

    (item,) = json_feed(site["feeds/policy.json"])["items"]
    assert (item["id"], item["title"]) == ("tag:feeder,2026:article/id%ED%A0%80", "标题")
    assert feedparser.parse(site["feeds/policy.rss"]).bozo == 0


@pytest.mark.parametrize("fmt", ["rss", "json"])
def test_golden_policy_feed(tmp_path: Path, fmt: str) -> None:
    state = open_feed_state(tmp_path, "https://feeds.example.org/shkj/")
    articles = sample_articles()
    state.poll(articles)
    old, tags = articles[2]
    state.poll([(replace(old, content="各有关单位：名单已更新。"), tags)], now=POLL_TIME)
    built = read(state, "policy", fmt)

    golden = GOLDEN / f"policy.{fmt}"
    if os.environ.get("FEEDER_REGOLD"):
        golden.write_bytes(built)
    assert built == golden.read_bytes(), "rebuild with FEEDER_REGOLD=1 and review the diff"


# -- A real feed reader over HTTP ------------------------------------------------------------


def _update(reader: Any) -> dict[str, tuple[int, int] | None]:
    """(new, modified) per feed file name; None where the server said 304 Not Modified."""
    results: dict[str, tuple[int, int] | None] = {}
    for result in reader.update_feeds_iter(scheduled=False):
        value = result.value
        assert value is None or isinstance(value, UpdatedFeed), value  # not an UpdateError
        name = result.url.rsplit("/", 1)[1]
        results[name] = None if value is None else (value.new, value.modified)
    return results


def test_a_real_reader_reads_the_rss_and_json_feeds_over_http(
    served: Served, tmp_path: Path
) -> None:
    served.state.poll(sample_articles())
    reader = make_reader(str(tmp_path / "reader.sqlite"))
    urls = {
        f"{name}.{fmt}": f"{served.url}feeds/{name}.{fmt}" for name in FEED_NAMES for fmt in FORMATS
    }
    for url in urls.values():
        reader.add_feed(url)

    counts = {"all": 7, "policy": 4, "research": 1, "industry": 2}
    assert _update(reader) == {f"{n}.{f}": (counts[n], 0) for n in FEED_NAMES for f in FORMATS}
    for fmt in FORMATS:
        feed = reader.get_feed(urls[f"policy.{fmt}"])
        assert feed.title == "上海科技 · 政策", fmt
        ids = [e.id for e in reader.get_entries(feed=feed, sort="recent")]
        assert sorted(ids) == sorted(
            entry_id(a.id) for a, tags in sample_articles() if "policy" in tags
        )
    rss_entry = reader.get_entry((urls["all.rss"], entry_id("2650224682_1")))
    json_entry = reader.get_entry((urls["all.json"], entry_id("2650224682_1")))
    assert rss_entry.title == json_entry.title == "AI的下一个前沿阵地是什么？周伯文谈AI精专通才之路"
    assert rss_entry.link == json_entry.link == "https://mp.weixin.qq.com/s/2650224682_1"
    assert rss_entry.authors_str == json_entry.authors_str == "查睿"

    # Nothing changed: nothing is rewritten, and nothing is new to the reader.
    assert served.state.poll(sample_articles(), now=POLL_TIME + timedelta(hours=1)) == []
    assert all(v in (None, (0, 0)) for v in _update(reader).values())

    # One article added to research: one new entry in all and research, in each format.
    added = make_article("2650224700_1", "2026-02-06", "新文章", "新的科研成果。")
    served.state.poll([(added, ("research",))], now=POLL_TIME + timedelta(hours=2))
    updated = _update(reader)
    for fmt in FORMATS:
        assert updated[f"all.{fmt}"] == updated[f"research.{fmt}"] == (1, 0), fmt
        assert updated[f"policy.{fmt}"] in (None, (0, 0)), fmt


def test_each_format_is_served_with_its_media_type(served: Served) -> None:
    served.state.poll(sample_articles())
    kinds = {"atom": "application/atom+xml", "rss": "application/rss+xml"}
    kinds["json"] = "application/feed+json"
    for fmt, kind in kinds.items():
        with urllib.request.urlopen(f"{served.url}feeds/policy.{fmt}") as response:
            assert response.headers["Content-Type"] == f"{kind}; charset=utf-8", fmt
