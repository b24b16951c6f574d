"""The feeds, OPML and index page, read back by real parsers and a real feed reader.

Regenerate the golden feed after an intended change, then review its diff:
    FEEDER_REGOLD=1 .venv/bin/pytest tests/publish/test_feeds.py -k golden
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner
from reader import make_reader
from reader.types import UpdatedFeed

from feeder.cli import main
from feeder.errors import OutputError
from feeder.files import write_if_changed
from feeder.model import Entry
from feeder.publish import build_site
from feeder.publish.feeds import EMPTY_FEED_UPDATED, content_html, entry_id
from feeder.text import EXCERPT_CHARS, excerpt
from tests.conftest import (
    FEED_TAGS,
    GOLDEN,
    OUTPUT_FILES,
    POLL_TIME,
    ROOT,
    SHANGHAI,
    FeedState,
    Served,
    Site,
    make_article,
    open_feed_state,
    sample_articles,
)

ATOM = "{http://www.w3.org/2005/Atom}"
FEED_NAMES = ["all", "policy", "research", "industry"]
BASE = "http://127.0.0.1:8000/"


def parse(state: FeedState, name: str) -> feedparser.FeedParserDict:
    return feedparser.parse((state.out / "feeds" / f"{name}.atom").read_bytes())


def atom_entry(state: FeedState, name: str, article_id: str) -> ET.Element:
    """The raw <entry> element, for what feedparser would paper over."""
    root = ET.fromstring((state.out / "feeds" / f"{name}.atom").read_bytes())
    (found,) = [
        e for e in root.findall(f"{ATOM}entry") if e.findtext(f"{ATOM}id") == entry_id(article_id)
    ]
    return found


# -- What feed parsers see ---------------------------------------------------------------


def test_every_feed_parses_cleanly_with_labelled_categories(feed_state: FeedState) -> None:
    written = feed_state.poll(sample_articles())

    assert sorted(p.relative_to(feed_state.out).as_posix() for p in written) == sorted(OUTPUT_FILES)
    expected = {"all": 7, "policy": 4, "research": 1, "industry": 2}
    for name in FEED_NAMES:
        parsed = parse(feed_state, name)
        assert parsed.bozo == 0, (name, parsed.get("bozo_exception"))
        assert parsed.feed.language == "zh-CN"
        assert len(parsed.entries) == expected[name]
        ids = [e.id for e in parsed.entries]
        assert len(set(ids)) == len(ids)
        for entry in parsed.entries:
            assert entry.published.endswith("+08:00"), entry.published
            assert entry.updated.endswith("+08:00"), entry.updated
            if name != "all":
                assert name in [t.term for t in entry.tags]
    policy = parse(feed_state, "policy")
    assert policy.feed.title == "上海科技 · 政策"
    assert parse(feed_state, "all").feed.title == "上海科技 · 全部"
    assert policy.feed.id == "tag:127.0.0.1,2026:/feeds/policy"
    assert policy.feed.author == "上海科技"
    links = {link.rel: link.href for link in policy.feed.links}
    assert links == {
        "self": "http://127.0.0.1:8000/feeds/policy.atom",
        "alternate": "http://127.0.0.1:8000/index.html#policy",
    }
    both = next(e for e in policy.entries if e.id == entry_id("2650224681_1"))
    assert [(t.term, t.label) for t in both.tags] == [("policy", "政策"), ("industry", "产业")]


def test_entries_are_newest_first_with_ties_broken_by_id(feed_state: FeedState) -> None:
    feed_state.poll(sample_articles())

    ids = [e.id for e in parse(feed_state, "policy").entries]

    # Three articles share 2026-02-04: the higher id first, as the store orders them.
    assert ids == [
        entry_id("2650224681_1"),
        entry_id("2650224675_1"),
        entry_id("2650224657_2"),
        entry_id("odd/../id with space"),
    ]


def test_entry_id_comes_from_the_article_id_alone(feed_state: FeedState, tmp_path: Path) -> None:
    feed_state.poll(sample_articles())
    moved = open_feed_state(tmp_path / "moved", "https://news.example.org/shkj/")
    moved.poll(sample_articles())

    odd = entry_id("odd/../id with space")
    assert odd == "tag:feeder,2026:article/odd%2F..%2Fid%20with%20space"
    ids = {name: {e.id for e in parse(feed_state, name).entries} for name in FEED_NAMES}
    assert odd in ids["all"] and odd in ids["policy"]
    # The site moving (another base_url) changes no entry id: readers see no duplicates.
    assert {e.id for e in parse(moved, "all").entries} == ids["all"]
    assert parse(moved, "all").feed.id != parse(feed_state, "all").feed.id
    for entry in parse(feed_state, "all").entries:
        assert "weixin" not in entry.id


def test_entry_fields(feed_state: FeedState) -> None:
    feed_state.poll(sample_articles())
    entries = {e.id: e for e in parse(feed_state, "all").entries}

    first = entries[entry_id("2650224682_1")]
    assert first.title == "AI的下一个前沿阵地是什么？周伯文谈AI精专通才之路"
    assert first.link == "https://mp.weixin.qq.com/s/2650224682_1"
    assert first.author == "查睿"  # named in the article
    assert first.published == "2026-02-05T00:00:00+08:00"
    assert entries[entry_id("2650224681_1")].author == "上海科技"  # else the account
    no_url = entries[entry_id("no-url")]
    assert atom_entry(feed_state, "all", "no-url").find(f"{ATOM}link") is None
    assert no_url.content[0].value == "<p>只有正文。</p>"


def test_content_is_escaped_text_never_markup(feed_state: FeedState) -> None:
    feed_state.poll(sample_articles())
    tricky = atom_entry(feed_state, "policy", "2650224657_2")

    assert tricky.findtext(f"{ATOM}title") == "<b>标签</b> & “引号”不是标记"
    content = tricky.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    assert content.text == (
        "<p>第一段&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;<br/>"
        "第二行 a &lt; b &amp;&amp; c &gt; d</p>\n"
        "<p>第二段 &amp;amp; 更多</p>"
    )
    assert content_html("a\n\n\n\nb\n") == "<p>a</p>\n<p>b</p>"


def test_summary_is_a_plain_excerpt() -> None:
    long = "科" * 200
    assert excerpt(long) == "科" * EXCERPT_CHARS + "…"
    assert excerpt("第一段\n第二行\n\nSecond paragraph") == "第一段第二行Second paragraph"
    assert excerpt("科" * EXCERPT_CHARS) == "科" * EXCERPT_CHARS  # not cut, no ellipsis
    # Characters outside the BMP count as one and are never split.
    assert excerpt("😀" * 130) == "😀" * EXCERPT_CHARS + "…"
    assert excerpt("a\x00b\x1fc") == "abc"  # what XML cannot carry is dropped


def test_a_bad_article_never_stops_a_feed(feed_state: FeedState) -> None:
    bad = make_article(
        "bad\x01id",
        "2026-02-06",
        "控制\x00字符\x0b标题",
        "正文\x1b含\x7f控制\x85字符\r\n下一行\uffff",
        url="javascript:alert(1)",
    )
    feed_state.poll([*sample_articles(), (bad, ("policy",))])

    parsed = parse(feed_state, "policy")
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    newest = parsed.entries[0]
    assert newest.id == "tag:feeder,2026:article/bad%01id"
    assert newest.title == "控制字符标题"
    content = atom_entry(feed_state, "policy", "bad\x01id").findtext(f"{ATOM}content")
    assert content == "<p>正文含控制字符<br/>下一行</p>"
    # Only http and https become links.
    assert atom_entry(feed_state, "policy", "bad\x01id").find(f"{ATOM}link") is None
    index = (feed_state.out / "index.html").read_text(encoding="utf-8")
    assert "javascript:" not in index and "控制字符标题" in index


def test_identical_input_gives_identical_bytes_and_touches_nothing(
    feed_state: FeedState, tmp_path: Path
) -> None:
    feed_state.poll(sample_articles())
    before = {name: (feed_state.out / name).read_bytes() for name in OUTPUT_FILES}
    mtimes = {name: (feed_state.out / name).stat().st_mtime_ns for name in OUTPUT_FILES}
    for name in OUTPUT_FILES:  # a past mtime, so that any rewrite would show
        os.utime(feed_state.out / name, ns=(mtimes[name] - 10**10, mtimes[name] - 10**10))

    assert feed_state.poll(sample_articles()) == []
    # A fresh state fed the same articles, at another time, in another order.
    other = open_feed_state(tmp_path / "other", "http://127.0.0.1:8000/")
    other.poll(list(reversed(sample_articles())), now=POLL_TIME + timedelta(days=3))

    for name in OUTPUT_FILES:
        assert (feed_state.out / name).stat().st_mtime_ns == mtimes[name] - 10**10
        assert (other.out / name).read_bytes() == before[name], name


def test_feed_updated_is_the_newest_entry_never_the_clock(feed_state: FeedState) -> None:
    articles = sample_articles()
    feed_state.poll(articles)
    policy = parse(feed_state, "policy")
    assert policy.feed.updated == "2026-02-04T00:00:00+08:00"
    assert parse(feed_state, "research").feed.updated == "2026-02-05T00:00:00+08:00"

    # An edit seen later moves the entry's updated, and with it the feed's.
    old, tags = articles[4]
    feed_state.poll([(replace(old, content="改过的正文。"), tags)], now=POLL_TIME)
    policy = parse(feed_state, "policy")
    assert policy.feed.updated == "2026-02-06T09:00:00+08:00"
    edited = next(e for e in policy.entries if e.id == entry_id(old.id))
    assert edited.updated == "2026-02-06T09:00:00+08:00"
    assert edited.published == "2026-02-03T00:00:00+08:00"


def test_empty_feed_has_a_fixed_updated(feed_state: FeedState) -> None:
    feed_state.poll([])

    for name in FEED_NAMES:
        parsed = parse(feed_state, name)
        assert parsed.bozo == 0
        assert parsed.entries == []
        assert (
            parsed.feed.updated
            == "2000-01-01T08:00:00+08:00"
            == (EMPTY_FEED_UPDATED.astimezone(SHANGHAI).isoformat())
        )
        assert parsed.feed.title.startswith("feeder · ")  # no article, no account name
    assert "暂无文章" in (feed_state.out / "index.html").read_text(encoding="utf-8")


def test_feeds_hold_at_most_max_entries(tmp_path: Path) -> None:
    state = open_feed_state(tmp_path, "http://127.0.0.1:8000/", extra="max_entries = 3\n")
    state.poll(sample_articles())

    entries = parse(state, "all").entries
    assert [e.id for e in entries] == [
        entry_id("2650224682_1"),
        entry_id("2650224681_1"),
        entry_id("2650224675_1"),
    ]
    assert len(parse(state, "policy").entries) == 3


def test_build_site_is_pure_and_orders_its_input() -> None:
    entries = [
        Entry(article, tags, article.published, POLL_TIME) for article, tags in sample_articles()
    ]
    feeds = {"all": entries, "policy": [e for e in entries if "policy" in e.tags]}
    shuffled = {name: list(reversed(items)) for name, items in feeds.items()}

    site = build_site(feeds, FEED_TAGS, base_url=BASE, account="上海科技", tz=SHANGHAI)

    assert list(site) == list(OUTPUT_FILES)
    assert build_site(shuffled, FEED_TAGS, base_url=BASE, account="上海科技", tz=SHANGHAI) == site
    assert feedparser.parse(site["feeds/research.atom"]).entries == []


def test_lone_surrogates_are_dropped_not_fatal() -> None:
    article = make_article("id\ud800", title="标题\udc00", content="正文\ud83d", url=None)
    entry = Entry(article, ("policy",), article.published, POLL_TIME)

    site = build_site({"policy": [entry]}, FEED_TAGS, base_url=BASE, account="a", tz=SHANGHAI)

    parsed = feedparser.parse(site["feeds/policy.atom"])
    assert parsed.bozo == 0
    assert parsed.entries[0].id == "tag:feeder,2026:article/id%ED%A0%80"
    assert parsed.entries[0].title == "标题"
    assert parsed.entries[0].content[0].value == "<p>正文</p>"


def test_a_tag_id_that_would_leave_the_feeds_folder_is_refused() -> None:
    bad = replace(FEED_TAGS[0], id="../policy")
    with pytest.raises(OutputError, match="cannot name a feed"):
        build_site({}, [bad], base_url="http://x/", account="a", tz=SHANGHAI)


# -- OPML and the index page ---------------------------------------------------------------


def test_opml_lists_every_feed(feed_state: FeedState) -> None:
    feed_state.poll(sample_articles())

    root = ET.fromstring((feed_state.out / "feeds.opml").read_bytes())

    assert root.tag == "opml" and root.get("version") == "2.0"
    outlines = root.findall("./body/outline")
    assert [o.attrib for o in outlines] == [
        {
            "type": "rss",
            "text": f"上海科技 · {label}",
            "title": f"上海科技 · {label}",
            "xmlUrl": f"http://127.0.0.1:8000/feeds/{name}.atom",
            "htmlUrl": "http://127.0.0.1:8000/index.html" + ("" if name == "all" else f"#{name}"),
        }
        for name, label in zip(FEED_NAMES, ["全部", "政策", "科研", "产业"], strict=True)
    ]
    assert root.find("./head/dateCreated") is None


class _Page(HTMLParser):
    """What a browser would find: feed links in the head, every href, the visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.alternates: list[dict[str, str | None]] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        if tag == "link" and found.get("rel") == "alternate":
            self.alternates.append(found)
        if found.get("href"):
            self.hrefs.append(str(found["href"]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_index_page_advertises_the_feeds_and_lists_articles(feed_state: FeedState) -> None:
    feed_state.poll(sample_articles())
    page = _Page()
    page.feed((feed_state.out / "index.html").read_text(encoding="utf-8"))
    text = "".join(page.text)

    formats = [
        ("application/atom+xml", "", "atom"),
        ("application/rss+xml", " (RSS)", "rss"),
        ("application/feed+json", " (JSON Feed)", "json"),
    ]
    assert [(a["type"], a["title"], a["href"]) for a in page.alternates] == [
        (kind, f"上海科技 · {label}{suffix}", f"http://127.0.0.1:8000/feeds/{name}.{fmt}")
        for name, label in zip(FEED_NAMES, ["全部", "政策", "科研", "产业"], strict=True)
        for kind, suffix, fmt in formats
    ]
    assert "http://127.0.0.1:8000/feeds.opml" in page.hrefs
    assert "复制" in text and "OPML" in text and "导入" in text
    assert "https://mp.weixin.qq.com/s/2650224681_1" in page.hrefs
    assert "<b>标签</b> & “引号”不是标记" in text  # shown as text …
    assert "b" not in page.tags and "script" not in page.tags  # … never as markup
    assert "2026-02-04" in text
    assert all(h.startswith(("http://", "https://", "#")) for h in page.hrefs)


# -- The golden feed -------------------------------------------------------------------------


def test_golden_policy_feed(tmp_path: Path) -> None:
    state = open_feed_state(tmp_path, "https://feeds.example.org/shkj/")
    articles = sample_articles()
    state.poll(articles)
    old, tags = articles[2]
    state.poll([(replace(old, content="各有关单位：名单已更新。"), tags)], now=POLL_TIME)
    built = (state.out / "feeds" / "policy.atom").read_bytes()

    golden = GOLDEN / "policy.atom"
    if os.environ.get("FEEDER_REGOLD"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(built)
    assert built == golden.read_bytes(), "rebuild with FEEDER_REGOLD=1 and review the diff"


# -- A real feed reader over HTTP ----------------------------------------------------------


def _update(reader: object) -> dict[str, tuple[int, int] | None]:
    """(new, modified) per feed name; None where the server said 304 Not Modified."""
    results: dict[str, tuple[int, int] | None] = {}
    for result in reader.update_feeds_iter(scheduled=False):  # type: ignore[attr-defined]
        name = result.url.rsplit("/", 1)[1].removesuffix(".atom")
        value = result.value
        if value is None:
            results[name] = None
        else:
            assert isinstance(value, UpdatedFeed), value  # not an UpdateError
            results[name] = (value.new, value.modified)
    return results


def _status_of(served: Served) -> dict[str, int]:
    statuses = {}
    for line in served.log:
        request, _, status = line.rpartition('" ')
        path = request.split()[2]
        statuses[path.rsplit("/", 1)[1].removesuffix(".atom")] = int(status.split()[0])
    return statuses


def test_a_real_reader_sees_new_unchanged_added_and_edited(served: Served, tmp_path: Path) -> None:
    articles = sample_articles()
    served.state.poll(articles)
    reader = make_reader(str(tmp_path / "reader.sqlite"))
    for url in served.feed_urls().values():
        reader.add_feed(url)

    # First update: every entry is new.
    assert _update(reader) == {
        "all": (7, 0),
        "policy": (4, 0),
        "research": (1, 0),
        "industry": (2, 0),
    }
    assert reader.get_feed(served.feed_urls()["policy"]).title == "上海科技 · 政策"

    # Nothing changed; the rebuild rewrites nothing and every feed answers 304.
    served.log.clear()
    assert served.state.poll(articles, now=POLL_TIME + timedelta(hours=1)) == []
    assert all(v in (None, (0, 0)) for v in _update(reader).values())
    assert _status_of(served) == dict.fromkeys(FEED_NAMES, 304)

    # One article added: exactly one new entry, in all and in its own tag's feed.
    added = make_article("2650224700_1", "2026-02-06", "新文章", "新的科研成果。")
    served.log.clear()
    served.state.poll([(added, ("research",))], now=POLL_TIME + timedelta(hours=2))
    assert _update(reader) == {"all": (1, 0), "policy": None, "research": (1, 0), "industry": None}
    assert _status_of(served) == {"all": 200, "policy": 304, "research": 200, "industry": 304}

    # One article edited: its updated moves; modified once per feed holding it, nothing new.
    old, tags = articles[2]
    edit = replace(old, content="各有关单位：名单已更新。")
    served.state.poll([(edit, tags)], now=POLL_TIME + timedelta(hours=3))
    assert _update(reader) == {"all": (0, 1), "policy": (0, 1), "research": None, "industry": None}
    entry = reader.get_entry((served.feed_urls()["policy"], entry_id(old.id)))
    assert entry.updated == POLL_TIME + timedelta(hours=3)
    assert "名单已更新" in entry.content[0].value


def test_an_unchanged_feed_answers_304_to_conditional_requests(served: Served) -> None:
    served.state.poll(sample_articles())
    url = served.feed_urls()["policy"]
    with urllib.request.urlopen(url) as first:
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        assert first.status == 200

    for headers in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers))
        assert caught.value.code == 304, headers


# -- Writing files -------------------------------------------------------------------------


def test_write_if_changed_leaves_identical_bytes_alone(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "feed.atom"
    assert write_if_changed(path, b"one") is True
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))

    assert write_if_changed(path, b"one") is False
    assert path.stat().st_mtime_ns == 1_000_000_000
    assert write_if_changed(path, b"two") is True
    assert path.read_bytes() == b"two"
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert sorted(p.name for p in path.parent.iterdir()) == ["feed.atom"]


def test_temporary_files_left_by_a_killed_writer_are_removed_by_the_next_job(
    site: Site,
) -> None:
    assert CliRunner().invoke(main, ["--config", str(site.config_path), "poll"]).exit_code == 0
    feeds = site.out / "feeds"
    leftovers = [feeds / ".all.atom.deadbeef.tmp", site.out / ".index.html.cafef00d.tmp"]
    for leftover in leftovers:
        leftover.write_bytes(b"half")  # as a writer killed mid-write leaves them, however new
    mine = site.out / "notes.tmp"  # not a name feeder writes: not feeder's to remove
    mine.write_bytes(b"an operator's file")
    before = {p: p.read_bytes() for p in site.out.rglob("*") if p.is_file()}
    result = CliRunner().invoke(main, ["--config", str(site.config_path), "poll"])
    assert (result.exit_code, result.output) == (0, "unchanged\n")
    after = {p: p.read_bytes() for p in site.out.rglob("*") if p.is_file()}
    assert after == {p: data for p, data in before.items() if p not in leftovers}


def test_a_write_leaves_other_temporary_files_alone(tmp_path: Path) -> None:
    # Outside the state lock another writer may be mid-write: only the lock holder cleans up.
    other = tmp_path / ".feed.atom.cafef00d.tmp"
    other.write_bytes(b"half")
    write_if_changed(tmp_path / "feed.atom", b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([other.name, "feed.atom"])


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# Run in a child process: as root, permissions do not stop writes, so the child drops the
# capabilities that let root ignore them; a file-size limit stands in for a full disk.
_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from feeder.errors import OutputError
    from feeder.files import write_if_changed
    try:
        write_if_changed(Path(sys.argv[1]), b"new bytes " * 1000)
    except OutputError as exc:
        print(exc)
    else:
        print("no error")
    """
)


def _write_in_child(path: Path, *, limit_size: bool = False) -> str:
    command = [sys.executable, "-c", _CHILD, str(path)]
    if os.geteuid() == 0:
        if not Path("/usr/bin/setpriv").exists():
            pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
        drop = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", *command]

    def limit() -> None:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=limit if limit_size else None,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
        },
    )
    return result.stdout.strip()


def test_write_into_a_read_only_folder_raises_and_keeps_the_old_file(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    path = folder / "policy.atom"
    path.write_bytes(b"old")
    folder.chmod(0o555)
    try:
        message = _write_in_child(path)
    finally:
        folder.chmod(0o755)

    assert message.startswith(f"{path}: cannot write: Permission denied"), message
    assert "\n" not in message
    assert path.read_bytes() == b"old"
    assert [p.name for p in folder.iterdir()] == ["policy.atom"]


def test_a_write_cut_short_raises_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.atom"
    path.write_bytes(b"old")

    message = _write_in_child(path, limit_size=True)

    assert message.startswith(f"{path}: cannot write: File too large"), message
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["policy.atom"]


# -- The command line ------------------------------------------------------------------------


def test_cli_build_rewrites_only_what_is_missing_or_stale(make_site: Callable[..., Site]) -> None:
    site = make_site()
    runner = CliRunner()
    args = ["--config", str(site.config_path)]
    assert runner.invoke(main, [*args, "build"]).exit_code == 1  # no state yet

    result = runner.invoke(main, [*args, "poll"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, [*args, "build"])
    assert result.exit_code == 0, result.output
    assert result.output == "up to date\n"

    (site.out / "index.html").unlink()
    result = runner.invoke(main, [*args, "build"])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {site.out / 'index.html'}\n"
    assert feedparser.parse((site.out / "feeds" / "all.atom").read_bytes()).bozo == 0
