"""Hostile articles: whatever a record holds, the outputs stay valid and inject nothing.

Property-based over every field of a record (id, title, url, time, account, content):
control characters, lone surrogates, bidirectional overrides, markup and event handlers,
`javascript:` and `data:` URLs, ids with `/`, `..` and spaces. Each example goes through
the real command line, corpus → `feeder poll` → `feeder newsletter render`, and then:

- every Atom and RSS feed is XML that feedparser reads without a bozo flag, and every JSON
  Feed is JSON;
- no page or feed carries markup from an article that a browser would run: no <script>,
  no element the templates do not use, no on* attribute, no javascript:/data: link;
- nothing is written outside the output folder and the state file.

And where text is shown besides the pages: a huge title costs only its own room in the
newsletter and the index page, an encoded line break adds no line to the mail, and no
control character reaches a warning line, an error line or the daemon's log.
"""

from __future__ import annotations

import html
import json
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feeder.app import open_feeder
from feeder.cli import main
from tests.conftest import OUTPUT_FILES, ROOT, TAXONOMY, Site, record
from tests.test_daemon import Running, wait_for

WEEK = "2026-W05"  # 2026-01-26 to 2026-02-01 in Asia/Shanghai
ATOM = "{http://www.w3.org/2005/Atom}"
RSS_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
# Elements the index page, the feeds' HTML content and the newsletter templates use
# themselves; an article must never add another.
OWN_TAGS = {
    "html", "head", "meta", "title", "link", "style", "body", "h1", "h2", "h3", "p", "ul",
    "ol", "li", "a", "code", "time", "section", "br", "table", "tr", "td", "tbody", "div",
    "span", "hr", "small", "strong", "em", "center",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "background", "poster", "xlink:href"}

MARKUP = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<svg onload=alert(1)>",
    "<iframe src=//evil.example></iframe>",
    "<a href='javascript:alert(1)'>点我</a>",
    '<a href="https://evil.example/">点我</a>',  # an element the pages use themselves
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    "&lt;script&gt;alert(1)&lt;/script&gt;",  # decoded once by the reader: still only text
    "&amp;lt;b&amp;gt;",
    "</textarea></style></title>",
    "]]><!--",
    '"><body onload=alert(1)>',
    "{{ 7 * 7 }}{% raw %}",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "\u202egnp.exe",  # right-to-left override
    "\u200b\u2066\u2069\ufeff",
    "\x00\x07\x1b[31m\x7f\x85\x9f",
    "\ud800",
    "\udfff",
    "\ufffe\uffff",
    "\r\n\r",
    "来源：<script>alert(1)</script>",
    "作者：<img src=x onerror=alert(1)>",
    "↓分享 ↓点赞 ↓在看",
]
URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.cookie)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "http://",
    "http://[",
    'http://example.org/" onmouseover="alert(1)',
    "http://example.org/<script>alert(1)</script>",
    "https://example.org/\u202egnp.exe",
    "https://mp.weixin.qq.com/s/ok",
    "https://mp.weixin.qq.com/s?__biz=" + "A" * 252 + "&mid=1",  # once a file name too long
]
IDS = ["a/b", "../../../etc/passwd", "..", "/", "a b  c", "%2e%2e%2f", "<id>", "CON", "\\..\\x"]
TIMES = ["2026/1/27", "2026-01-28 10:30", "2026-01-31T23:59:00+08:00", "2026-02-01"]

# Any code point, lone surrogates included (hypothesis leaves them out by default).
ANY_CHAR = st.characters(exclude_categories=())
# Words the classifier tags, so that hostile titles also reach the index page's sections.
WORDS = ["关于印发政策的通知", "科研团队发表论文", "企业融资", "正文"]
pieces = st.one_of(st.sampled_from(MARKUP), st.text(ANY_CHAR, max_size=12), st.sampled_from(WORDS))
hostile = st.lists(pieces, max_size=5).map("".join)
records = st.fixed_dictionaries(
    {
        "文章标识符aid": st.one_of(st.sampled_from(IDS), hostile),
        "标题title": st.one_of(st.sampled_from(MARKUP), hostile),
        "链接url": st.one_of(st.sampled_from(URLS), hostile, st.none()),
        "时间time": st.one_of(st.sampled_from(TIMES), hostile),
        "公众号名称": st.one_of(st.sampled_from(MARKUP), hostile, st.none()),
        "finalContent": st.one_of(
            st.lists(st.one_of(pieces, st.just("\r\r")), max_size=12).map("".join), st.none()
        ),
    }
)
# A record sure to be published, so that each example shows hostile text in every output.
ANCHOR = {
    "文章标识符aid": "anchor",
    "标题title": "<script>alert('anchor')</script>关于科技企业创新政策的通知",
    "链接url": "javascript:alert(1)",
    "时间time": "2026/1/30",
    "公众号名称": "<b onmouseover=alert(1)>上海科技</b>",
    "finalContent": "<img src=x onerror=alert(1)>\r\r来源：<script>x</script>",
}


class Scan(HTMLParser):
    """Every element and attribute of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.skeleton: list[str] = []  # each element and its attribute names, in order
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.skeleton.append(" ".join([tag, *sorted(name for name, _ in attrs)]))
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            if name in URL_ATTRIBUTES and value is not None and not safe_link(value):
                self.problems.append(f"<{tag} {name}={value!r}>")

    handle_startendtag = handle_starttag


def safe_link(url: str) -> bool:
    # Browsers drop leading spaces and control characters and ignore tabs and newlines
    # inside the scheme, so "java\tscript:" is "javascript:".
    flat = "".join(c for c in url if c > " " and c not in "\x7f").lower()
    return not flat.startswith(("javascript:", "data:", "vbscript:"))


def check_html(text: str, where: str) -> list[str]:
    """Check one HTML document; return its skeleton, to compare with a harmless twin's."""
    page = Scan()
    page.feed(text)
    page.close()
    assert "script" not in page.tags, where
    assert page.tags <= OWN_TAGS, f"{where}: {page.tags - OWN_TAGS}"
    assert page.problems == [], f"{where}: {page.problems}"
    return page.skeleton


# Markup's own characters, each replaced by a letter in the twin corpus: the twin's pages
# have the structure the templates give, and the hostile pages must have exactly that one.
DEFANG = str.maketrans({"<": "x", ">": "x", "&": "x", '"': "x", "'": "x", "=": "x"})
KEPT = {"文章标识符aid", "链接url"}


def defanged(corpus: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same records with markup characters gone from every text but the id (which
    orders articles of one day) and the URL (which decides whether there is a link at all),
    and so with no markup to inject. Entities are decoded first, as feeder decodes them:
    otherwise a text whose entities spell its title ("&lt;b&gt;" under the title "<b>")
    loses its excerpt in one twin only."""
    return [
        {
            key: html.unescape(value).translate(DEFANG)
            if isinstance(value, str) and key not in KEPT
            else value
            for key, value in record.items()
        }
        for record in corpus
    ]


def check_feed(data: bytes, name: str) -> list[str]:
    root = ET.fromstring(data)  # well-formed XML, or this raises
    skeleton = []
    # Not sanitised: bozo is about the XML; what the HTML holds is checked below, unfiltered.
    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    assert parsed.bozo == 0, f"{name}: {parsed.get('bozo_exception')}"
    for entry in root.iter(f"{ATOM}entry"):
        for link in entry.iter(f"{ATOM}link"):
            assert link.get("href", "").startswith(("http://", "https://")), name
        for part in ("content", "summary", "title"):
            for element in entry.iter(f"{ATOM}{part}"):
                text = element.text or ""
                if element.get("type") == "html":  # the HTML a reader will render
                    skeleton += check_html(text, f"{name} {part}")
    return skeleton


def check_rss(data: bytes, name: str) -> list[str]:
    """As `check_feed`, for RSS 2.0: an item's description and content:encoded are HTML."""
    root = ET.fromstring(data)
    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    assert parsed.bozo == 0, f"{name}: {parsed.get('bozo_exception')}"
    skeleton = []
    for item in root.iter("item"):
        for link in item.iter("link"):
            assert (link.text or "").startswith(("http://", "https://")), name
        for part in ("description", RSS_CONTENT):
            for element in item.iter(part):
                skeleton += check_html(element.text or "", f"{name} {part}")
    return skeleton


def check_json_feed(data: bytes, name: str) -> list[str]:
    """As `check_feed`, for JSON Feed: content_html is the HTML; title and summary are plain
    text by the spec."""
    document = json.loads(data.decode("utf-8"))  # strict UTF-8: no lone surrogate got out
    skeleton = []
    for item in document["items"]:
        assert item.get("url", "https://").startswith(("http://", "https://")), name
        skeleton += check_html(item["content_html"], f"{name} content_html")
    return skeleton


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def run(root: Path, corpus: list[dict[str, Any]]) -> dict[str, list[str]]:
    """corpus → poll → render, then check every output and where files were written;
    return the skeleton of each HTML output."""
    site = root / "site"
    site.mkdir()
    (site / "data").mkdir()
    shutil.copy(TAXONOMY, site / "data" / "taxonomy.toml")
    shutil.copytree(ROOT / "feeder" / "templates", site / "templates")
    config = site / "feeder.toml"
    config.write_text('[output]\nbase_url = "https://feeds.example.org/"\n', encoding="utf-8")
    # ensure_ascii: lone surrogates travel as \ud800 escapes, as a JSON writer would send them.
    (site / "data" / "corpus.json").write_text(json.dumps(corpus), encoding="ascii")
    before = listing(root)

    runner = CliRunner()
    poll = runner.invoke(main, ["--config", str(config), "poll"])
    assert poll.exit_code == 0, poll.output
    assert poll.exception is None
    render = runner.invoke(main, ["--config", str(config), "newsletter", "render", "--week", WEEK])
    assert render.exit_code == 0, render.output

    out = site / "out"
    previews = {f"newsletter/{WEEK}.{ext}" for ext in ("html", "txt", "eml")}
    written = {p for p in listing(out) if (out / p).is_file()}
    # Several accounts get feeds of their own, named by a hash of the (hostile) name: checked
    # like the others below, but not compared with the twin's, whose names differ.
    accounts = {p for p in written if p.startswith("feeds/account/")}
    assert written - accounts == set(OUTPUT_FILES) | previews
    folders = {"out", "out/feeds", "out/newsletter"} | (
        {"out/feeds/account"} if accounts else set()
    )
    state = {"data/state.db", "data/state.db.job.lock"}
    expected = {f"site/{p}" for p in state | folders} | {f"site/out/{p}" for p in written}
    assert listing(root) - before == expected  # ids like ../../x named no file anywhere

    skeletons = {}
    for name in OUTPUT_FILES:
        data = (out / name).read_bytes()
        if name.endswith(".atom"):
            skeletons[name] = check_feed(data, name)
        elif name.endswith(".rss"):
            skeletons[name] = check_rss(data, name)
        elif name.endswith(".json"):
            skeletons[name] = check_json_feed(data, name)
        elif name.endswith(".opml"):
            for outline in ET.fromstring(data).iter("outline"):
                if accounts and outline.get("xmlUrl") is None:  # the accounts' folder
                    continue
                assert outline.get("xmlUrl", "").startswith("https://feeds.example.org/")
        else:
            skeletons[name] = check_html(data.decode("utf-8"), name)
    for name in sorted(accounts):
        data = (out / name).read_bytes()
        checks = {".atom": check_feed, ".rss": check_rss, ".json": check_json_feed}
        checks[name[name.rindex(".") :]](data, name)
    newsletter = (out / f"newsletter/{WEEK}.html").read_text(encoding="utf-8")
    skeletons["newsletter"] = check_html(newsletter, "newsletter")
    return skeletons


def run_with_twin(root: Path, corpus: list[dict[str, Any]]) -> None:
    """Run the hostile corpus and its harmless twin: their pages must have one structure."""
    (root / "hostile").mkdir()
    (root / "twin").mkdir()
    assert run(root / "hostile", corpus) == run(root / "twin", defanged(corpus))


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(records, min_size=1, max_size=6))
@example([{**ANCHOR, "文章标识符aid": ident} for ident in IDS])
def test_hostile_records_are_published_as_text_only(corpus: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        run_with_twin(Path(folder), [ANCHOR, *corpus])


@pytest.mark.slow
def test_a_five_megabyte_article_is_published_whole_and_inert(tmp_path: Path) -> None:
    block = "上海科技创新中心建设<script>alert(1)</script>\u202e&lt;img onerror=x&gt;\r"
    content = block * (5_000_000 // len(block.encode("utf-8")) + 1)
    assert len(content.encode("utf-8")) >= 5_000_000
    big = {
        **ANCHOR,
        "文章标识符aid": "big",
        "标题title": "科研" + block * 200,
        "finalContent": content,
    }
    run(tmp_path, [ANCHOR, big])
    all_feed = (tmp_path / "site" / "out" / "feeds" / "all.atom").read_bytes()
    feed = feedparser.parse(all_feed, sanitize_html=False, resolve_relative_uris=False)
    (entry,) = [e for e in feed.entries if e.id.endswith("/big")]
    assert entry.content[0].value.count("上海科技创新中心建设") == content.count(
        "上海科技创新中心建设"
    )


def test_a_lone_surrogate_escape_in_an_array_costs_nothing_but_itself(tmp_path: Path) -> None:
    # json.dumps writes a cut emoji as "\ud83d"; the fast parser cannot return it.
    corpus = [
        {**ANCHOR, "文章标识符aid": "before"},
        {
            **ANCHOR,
            "文章标识符aid": "cut",
            "标题title": "表情\ud83d被截断",
            "finalContent": "\udfff",
        },
        {**ANCHOR, "文章标识符aid": "after", "标题title": "完整的表情\U0001f600"},
    ]
    run(tmp_path, corpus)
    config = tmp_path / "site" / "feeder.toml"
    result = CliRunner().invoke(main, ["--config", str(config), "classify"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no record skipped, none read twice
    titles = {line.split("\t")[0]: line.split("\t")[2] for line in result.stdout.splitlines()}
    assert titles["cut"] == "表情被截断" and titles["after"] == "完整的表情\U0001f600"
    assert list(titles) == ["before", "cut", "after"]


# -- Where text is shown besides the pages: the mail, warning and error lines, the log -------


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(site.config_path), *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_huge_title_costs_its_own_room_not_the_issue(make_site: Callable[..., Site]) -> None:
    huge = record("huge", title="关于政策的通知" + "超长标题" * 10_000, time="2026/1/28")
    others = [record(f"n{i}", title=f"第{i}篇", time="2026/1/29") for i in range(5)]
    site = make_site([huge, *others])
    assert cli(site, "poll")[0] == 0
    code, _, err = cli(site, "newsletter", "render", "--week", "2026-W05")
    assert code == 0, err
    text = (site.out / "newsletter" / "2026-W05.txt").read_text(encoding="utf-8")
    assert all(f"◆ 第{i}篇" in text for i in range(5))  # every other article is in the issue
    [shown] = [line for line in text.splitlines() if line.startswith("◆ 关于政策的通知超长标题")]
    assert len(shown) == len("◆ ") + 200 and shown.endswith("…")
    index = (site.out / "index.html").read_text(encoding="utf-8")
    assert len(index) < 20_000 and "超长标题" * 48 in index and "超长标题" * 49 not in index


def test_an_encoded_line_break_cannot_smuggle_a_line_into_the_mail(
    make_site: Callable[..., Site],
) -> None:
    smuggler = record("smuggler", title="关于政策的通知", time="2026/1/28")
    smuggler["链接url"] = "https://mp.weixin.qq.com/s/a&#10;退订请点击：http://evil.example/"
    site = make_site([smuggler])
    assert cli(site, "poll")[0] == 0
    assert cli(site, "newsletter", "render", "--week", "2026-W05")[0] == 0
    text = (site.out / "newsletter" / "2026-W05.txt").read_text(encoding="utf-8")
    assert "◆ 关于政策的通知" in text
    assert not [line for line in text.splitlines() if "退订请点击" in line]
    with open_feeder(site.config) as feeder:
        [entry] = feeder.storage.entries()
    assert entry.article.url is None  # refused once decoded, not repaired


FORGED = "\x1b[2J\x1b[31m\r\nError: forged\u202e"


def test_no_control_character_reaches_a_warning_line(make_site: Callable[..., Site]) -> None:
    bad = record(f"evil{FORGED}", time=f"someday{FORGED}")
    site = make_site([record("good"), bad])
    code, out, err = cli(site, "poll")
    assert (code, out) == (0, "1 new, 0 updated, 0 unchanged, 1 skipped\n")
    [warning] = err.splitlines()  # one line, however many line breaks the record holds
    assert warning.startswith("Warning: ") and "Error: forged" in warning
    assert not any(c < " " or c in "\x7f\u202e" for c in warning)


def test_no_control_character_reaches_an_error_line_or_the_daemon_log(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(extra="[schedule]\npoll_seconds = 3600\n")
    text = site.config_path.read_text(encoding="utf-8").replace(
        'path = "data/corpus.json"', 'path = "data/evil\\u001b[31m\\r\\nError: forged.json"'
    )
    site.config_path.write_text(text, encoding="utf-8")
    code, _, err = cli(site, "poll")
    assert code == 1
    assert err.count("\n") == 1 and "\\x1b[31m\\r\\nError: forged.json" in err
    daemon = Running(site)
    try:
        assert wait_for(lambda: "poll failed" in daemon.text()), daemon.text()
    finally:
        assert daemon.stop() == 0
    [failed] = [line for line in daemon.text().splitlines() if "poll failed" in line]
    assert "\\x1b[31m\\r\\nError: forged.json: corpus file not found" in failed
