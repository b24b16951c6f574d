"""The newsletter: week math, which articles an issue holds, rendering, previews."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from feeder.app import open_feeder
from feeder.cli import main
from feeder.errors import OutputError
from feeder.model import Article, Entry
from feeder.newsletter.issue import select_issue
from feeder.newsletter.preview import current_issue, issue_message, write_preview
from feeder.newsletter.render import (
    HTML_LIMIT,
    PREFERENCES_SLOT,
    UNSUBSCRIBE_SLOT,
    WEB,
    Edition,
    render_issue,
    sections,
    subject_line,
)
from feeder.schedule import last_full_week, parse_week_key, shift_week, week_bounds, week_key
from feeder.text import excerpt, web_url
from tests.conftest import NEWS_POLL, TAXONOMY, NewsState, keyword_tags

TZ = ZoneInfo("Asia/Shanghai")
W05_SUBJECT = "上海科技周报 · 2026年第5周（1月26日–2月1日）"


def at(day: str, tz: ZoneInfo = TZ) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=tz)


def entry(
    ident: str,
    day: str,
    tags: tuple[str, ...] = (),
    *,
    title: str | None = None,
    url: str | None = "https://mp.weixin.qq.com/s/x",
    content: str = "正文。",
    first_seen: datetime = NEWS_POLL,
) -> Entry:
    article = Article(
        id=ident,
        title=title or f"文章 {ident}",
        url=url,
        published=at(day),
        account="上海科技",
        content=content,
    )
    return Entry(article, tags, article.published, first_seen)


class TextOf(HTMLParser):
    """The visible text of an HTML document, and the targets of its links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.links: list[str] = []
        self.headings: list[str] = []
        self._tag = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag = tag
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        if self._tag == "h2" and data.strip():
            self.headings.append(data.strip())

    @property
    def text(self) -> str:
        return "".join(self.parts)


# -- Weeks ---------------------------------------------------------------------------------


def test_week_key_names_its_monday_to_sunday() -> None:
    assert week_bounds("2026-W05", TZ) == (at("2026-01-26"), at("2026-02-02"))
    assert week_key(at("2026-01-26T00:00"), TZ) == "2026-W05"
    assert week_key(at("2026-02-01T23:59:59"), TZ) == "2026-W05"
    assert week_key(at("2026-02-02T00:00"), TZ) == "2026-W06"


def test_week_is_taken_in_the_configured_zone_not_utc() -> None:
    # Sunday 17:00 UTC is already Monday 01:00 in Shanghai.
    sunday_evening_utc = datetime(2026, 2, 1, 17, 0, tzinfo=UTC)
    assert week_key(sunday_evening_utc, TZ) == "2026-W06"
    assert week_key(sunday_evening_utc, ZoneInfo("UTC")) == "2026-W05"


def test_iso_years_differ_from_calendar_years_at_the_edges() -> None:
    assert week_bounds("2026-W01", TZ)[0] == at("2025-12-29")
    assert week_key(at("2027-01-03"), TZ) == "2026-W53"
    assert shift_week("2026-W53", 1) == "2027-W01"
    assert shift_week("2026-W01", -1) == "2025-W52"


@pytest.mark.parametrize("bad", ["2026-5", "2026-W5", "2026-w05", "2026-W00", "2025-W53", ""])
def test_malformed_or_impossible_week_keys_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="ISO"):
        parse_week_key(bad)


def test_last_full_week_is_the_one_before_the_current_week() -> None:
    assert last_full_week(at("2026-02-02T00:00"), TZ) == "2026-W05"
    assert last_full_week(at("2026-02-08T23:59"), TZ) == "2026-W05"
    assert last_full_week(at("2026-02-01T23:59"), TZ) == "2026-W04"


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)))
def test_every_moment_lies_in_the_bounds_of_its_own_week(naive: datetime) -> None:
    moment = naive.replace(tzinfo=UTC)
    start, end = week_bounds(week_key(moment, TZ), TZ)
    assert start <= moment < end
    assert end - start == timedelta(days=7)
    assert start.astimezone(TZ).weekday() == 0


# -- Selection -----------------------------------------------------------------------------


def test_an_issue_holds_its_week_newest_first_and_nothing_from_other_weeks() -> None:
    candidates = [
        entry("sun-before", "2026-01-25T23:59"),
        entry("mon", "2026-01-26T00:00"),
        entry("sun", "2026-02-01T23:59"),
        entry("next-mon", "2026-02-02T00:00"),
    ]
    issue = select_issue("2026-W05", TZ, candidates, frozen=set(), issued=set())
    assert [e.article.id for e in issue.entries] == ["sun", "mon"]
    assert issue.late == ()


def test_late_articles_of_a_frozen_week_go_to_the_next_issue_once() -> None:
    candidates = [
        entry("sent-with-w05", "2026-01-27"),
        entry("late-for-w05", "2026-01-28"),
        entry("w06", "2026-02-03"),
    ]
    issue = select_issue("2026-W06", TZ, candidates, frozen={"2026-W05"}, issued={"sent-with-w05"})
    assert [e.article.id for e in issue.entries] == ["w06"]
    assert [e.article.id for e in issue.late] == ["late-for-w05"]
    # Once W06 carries it, W07 does not.
    again = select_issue(
        "2026-W07",
        TZ,
        candidates,
        frozen={"2026-W05", "2026-W06"},
        issued={"sent-with-w05", "late-for-w05", "w06"},
    )
    assert again.empty


def test_weeks_without_an_issue_of_their_own_are_not_back_filled() -> None:
    candidates = [entry("w03", "2026-01-13"), entry("w04", "2026-01-20")]
    issue = select_issue("2026-W05", TZ, candidates, frozen=set(), issued=set())
    assert issue.empty
    # A gap week (W04 never sent) keeps its articles for its own issue.
    issue = select_issue("2026-W05", TZ, candidates, frozen={"2026-W03"}, issued=set())
    assert [e.article.id for e in issue.late] == ["w03"]


def test_a_skipped_week_counts_as_done_for_late_arrivals() -> None:
    issue = select_issue(
        "2026-W06", TZ, [entry("late", "2026-01-29")], frozen={"2026-W05"}, issued=set()
    )
    assert [e.article.id for e in issue.late] == ["late"]


def test_current_issue_reads_the_corpus_week_from_the_store(news: NewsState) -> None:
    issue = current_issue(news.store, "2026-W05", TZ)
    assert len(issue.entries) == 22
    assert issue.late == ()


# -- Pieces of the page --------------------------------------------------------------------


def test_excerpt_stops_near_the_limit_at_a_sentence_end_or_with_an_ellipsis() -> None:
    sentence = "上海科技创新发展取得新进展。"  # 14 characters
    text = excerpt(sentence * 20)
    assert text.endswith("。") and 80 <= len(text) <= 120
    text = excerpt("字" * 300)
    assert text == "字" * 120 + "…"
    assert excerpt("短文。") == "短文。"


def test_excerpt_skips_a_title_the_text_repeats() -> None:
    content = "关于开展2026年度\n上海市科学数据资源\n调查工作的通知\n各有关单位：为深入贯彻。"
    assert excerpt(content, title="【通知】关于开展2026年度上海市科学数据资源调查工作的通知") == (
        "各有关单位：为深入贯彻。"
    )
    assert excerpt("习近平在会上强调。", title="习近平：发挥比较优势") == "习近平在会上强调。"


def test_excerpt_joins_broken_chinese_lines_without_spaces_but_keeps_latin_words_apart() -> None:
    assert excerpt("关于转发\n国家自然科学基金委\n通报") == "关于转发国家自然科学基金委通报"
    assert excerpt("AAAI 2026\n\nin Singapore") == "AAAI 2026 in Singapore"


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://mp.weixin.qq.com/s/abc", True),
        ("http://mp.weixin.qq.com/s?a=1&b=2", True),
        ("javascript:alert(1)", False),
        ("data:text/html,x", False),
        ("//mp.weixin.qq.com/s/abc", False),
        ("https://", False),
        (None, False),
    ],
)
def test_only_absolute_http_links_are_linked(url: str | None, kept: bool) -> None:
    assert web_url(url) == (url if kept else None)


def test_subject_names_the_title_iso_week_and_its_days() -> None:
    assert subject_line("上海科技周报", "2026-W05", TZ) == W05_SUBJECT
    assert (
        subject_line("周报", "2026-W01", TZ) == "周报 · 2026年第1周（2025年12月29日–2026年1月4日）"
    )


def test_each_article_appears_once_under_its_primary_tag(news: NewsState) -> None:
    issue = select_issue(
        "2026-W05",
        TZ,
        [
            entry("a", "2026-01-27", ("research", "policy")),
            entry("b", "2026-01-28", ("policy",)),
            entry("c", "2026-01-29", ()),
            entry("d", "2026-01-30", ("retired-tag",)),
            entry("e", "2026-01-31", ("industry", "research", "policy")),
        ],
        frozen=set(),
        issued=set(),
    )
    shown = sections(issue, news.tags, news.config)
    assert [(s.label, [i.id for i in s.items]) for s in shown] == [
        ("政策", ["b"]),
        ("科研", ["a"]),
        ("产业", ["e"]),
        ("其他", ["d", "c"]),
    ]
    labels = {i.id: i.labels for s in shown for i in s.items}
    assert labels == {"a": ("政策",), "b": (), "c": (), "d": (), "e": ("科研", "政策")}
    assert shown[0].feed_url == "https://feeds.example.org/shkj/feeds/policy.atom"
    assert shown[3].feed_url == "https://feeds.example.org/shkj/feeds/all.atom"


# -- Rendering the seed week ---------------------------------------------------------------


@pytest.fixture
def w05(news: NewsState) -> tuple[NewsState, list[Entry]]:
    start, end = week_bounds("2026-W05", TZ)
    return news, news.store.entries_published(start, end)


def test_every_article_of_the_week_is_in_both_parts(w05: tuple[NewsState, list[Entry]]) -> None:
    news, entries = w05
    assert len(entries) == 22
    rendered = render_issue(current_issue(news.store, "2026-W05", TZ), news.tags, news.config)
    page = TextOf(rendered.html)
    for e in entries:
        assert e.article.title in page.text, e.article.id
        assert e.article.title in rendered.text, e.article.id
        assert e.article.url in page.links, e.article.id
        assert e.article.url in rendered.text, e.article.id
        assert excerpt(e.article.content, title=e.article.title) in page.text, e.article.id
    assert rendered.subject == W05_SUBJECT


def test_sections_come_in_order_with_the_late_ones_last(news: NewsState) -> None:
    late = entry("late", "2026-01-20", ("policy",), title="迟到的文章")
    issue = current_issue(news.store, "2026-W05", TZ)
    issue = replace(issue, late=(late,))
    rendered = render_issue(issue, news.tags, news.config)
    assert TextOf(rendered.html).headings == ["政策", "科研", "产业", "其他", "往期补遗"]
    order = [rendered.text.index(f"【{h}】") for h in ("政策", "科研", "产业", "其他", "往期补遗")]
    assert order == sorted(order)
    assert rendered.text.index("迟到的文章") > rendered.text.index("【往期补遗】")


def test_preheader_is_hidden_and_counts_each_section(news: NewsState) -> None:
    issue = current_issue(news.store, "2026-W05", TZ)
    rendered = render_issue(issue, news.tags, news.config)
    counts = {s.label: s.total for s in sections(issue, news.tags, news.config)}
    assert sum(counts.values()) == 22
    start = rendered.html.index('class="preheader"')
    tag = rendered.html[rendered.html.rindex("<", 0, start) : rendered.html.index(">", start)]
    assert "display: none" in tag
    body = rendered.html[rendered.html.index(">", start) + 1 : rendered.html.index("</div>", start)]
    assert body.startswith("本期共 22 篇")
    for label, n in counts.items():
        assert f"{label} {n} 篇" in body


def test_html_is_email_safe(news: NewsState) -> None:
    rendered = render_issue(current_issue(news.store, "2026-W05", TZ), news.tags, news.config)
    html = rendered.html
    assert 'width="600"' in html and "max-width: 600px" in html
    assert html.count("<table") >= 2 and "<div" in html  # table layout; the div is the preheader
    body = html[html.index("<body") : html.index(">", html.index("<body"))]
    assert "background-color: #eef1f4" in body and "color: #1f2328" in body
    assert '"PingFang SC"' in body.replace("'", '"') and "Microsoft YaHei" in body
    # Inlined: the rules are on the elements; only the @media block keeps a <style>.
    assert 'class="article" style="' in html
    style = html[html.index("<style>") : html.index("</style>")]
    assert style.removeprefix("<style>").lstrip().startswith("@media")
    assert "<img" not in html  # no images, so none can lack alt text
    assert len(html.encode()) < HTML_LIMIT


def test_footer_links_the_feeds_the_page_and_how_to_unsubscribe(news: NewsState) -> None:
    issue = current_issue(news.store, "2026-W05", TZ)
    mailed = render_issue(issue, news.tags, news.config)
    assert mailed is not None
    base = "https://feeds.example.org/shkj/"
    shared = [f"{base}feeds/{t}.atom" for t in ("policy", "research", "industry", "all")]
    shared += [f"{base}index.html", f"{base}newsletter/index.html"]
    own = [f"{base}preferences/{PREFERENCES_SLOT}", f"{base}unsubscribe/{UNSUBSCRIBE_SLOT}"]
    web_version = f"{base}newsletter/2026-W05.html"
    links = TextOf(mailed.html).links
    for url in [*shared, *own, web_version]:
        assert url in links
        assert url in mailed.text
    assert "newsletter@example.org" in mailed.text
    # The web version is everyone's: no reader's links, an invitation to subscribe instead.
    web = render_issue(issue, news.tags, news.config, WEB)
    assert web is not None
    links = TextOf(web.html).links
    assert all(url in links for url in shared) and f"{base}subscribe" in links
    assert not [url for url in links if "/preferences/" in url or "/unsubscribe/" in url]
    assert "FEEDERx" not in web.html + web.text and web_version not in links


def test_a_readers_sections_are_the_tags_they_chose(news: NewsState) -> None:
    both = entry("both", "2026-01-27", ("industry", "policy"))  # industry first, policy too
    policy = entry("policy", "2026-01-28", ("policy",))
    research = entry("research", "2026-01-29", ("research",))
    untagged = entry("untagged", "2026-01-30")
    issue = select_issue("2026-W05", TZ, [both, policy, research, untagged], frozen=(), issued=())

    def shown(chosen: tuple[str, ...] | None) -> list[tuple[str, list[str]]]:
        found = sections(issue, news.tags, news.config, chosen=chosen)
        return [(s.id, [item.id for item in s.items]) for s in found]

    assert shown(None) == [
        ("policy", ["policy"]),
        ("research", ["research"]),
        ("industry", ["both"]),
        ("other", ["untagged"]),
    ]
    # A reader of 政策 gets every article tagged so, primary or not, and no 其他.
    assert shown(("policy",)) == [("policy", ["policy", "both"])]
    assert shown(("policy", "industry")) == [("policy", ["policy"]), ("industry", ["both"])]
    # A reader whose sections have nothing this week gets no edition at all.
    quiet = select_issue("2026-W05", TZ, [research], frozen=(), issued=())
    assert render_issue(quiet, news.tags, news.config, Edition(("policy",))) is None
    assert render_issue(quiet, news.tags, news.config, Edition(("research",))) is not None


def test_article_text_is_escaped_and_bad_links_are_not_linked(news: NewsState) -> None:
    nasty = entry(
        "x",
        "2026-01-27",
        ("policy",),
        title="<script>alert(1)</script> & “引号”",
        url="javascript:alert(1)",
        content="a < b && c > d",
    )
    issue = select_issue("2026-W05", TZ, [nasty], frozen=set(), issued=set())
    rendered = render_issue(issue, news.tags, news.config)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; “引号”" in rendered.html
    assert "javascript:" not in rendered.html and "javascript:" not in rendered.text
    assert "<script>alert(1)</script> & “引号”" in rendered.text  # the text part is not escaped


def test_a_huge_week_shows_the_newest_per_section_and_links_the_rest(news: NewsState) -> None:
    long = "上海科技创新取得重要进展，" * 30
    monday = at("2026-01-26")
    many = [
        entry(f"{tag}-{n:03d}", (monday + timedelta(hours=n)).isoformat(), (tag,), content=long)
        for tag in ("policy", "research", "industry")
        for n in range(150)
    ]
    issue = select_issue("2026-W05", TZ, many, frozen=set(), issued=set())
    rendered = render_issue(issue, news.tags, news.config)
    assert len(rendered.html.encode()) <= HTML_LIMIT
    page = TextOf(rendered.html)
    shown = [s for s in sections(issue, news.tags, news.config)]
    for section in shown:
        kept = sum(1 for e in many if e.tags[0] == section.id and e.article.title in page.text)
        assert 0 < kept < 150
        assert f"还有 {150 - kept} 篇，见订阅源" in page.text
        assert f"还有 {150 - kept} 篇，见订阅源：{section.feed_url}" in rendered.text
        # The ones shown are the newest of the section.
        newest = sorted((e for e in many if e.tags[0] == section.id), key=_newest)[:kept]
        assert all(e.article.title in page.text for e in newest)
        assert section.feed_url in page.links


def _newest(e: Entry) -> tuple[datetime, str]:
    return (-e.article.published.timestamp(), e.article.id)  # type: ignore[return-value]


def test_an_empty_week_still_renders(news: NewsState) -> None:
    issue = select_issue("2026-W10", TZ, [], frozen=set(), issued=set())
    rendered = render_issue(issue, news.tags, news.config)
    assert "本周没有新文章" in rendered.html and "本周没有新文章" in rendered.text


# -- Operators' templates ------------------------------------------------------------------


def copy_templates(news: NewsState, tmp_path: Path) -> tuple[NewsState, Path]:
    folder = tmp_path / "my-templates"
    source = news.config.newsletter.templates
    for path in source.rglob("*.j2"):
        target = folder / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    config = replace(news.config, newsletter=replace(news.config.newsletter, templates=folder))
    return replace(news, config=config), folder


def test_an_edited_template_restyles_the_issue(news: NewsState, tmp_path: Path) -> None:
    news, folder = copy_templates(news, tmp_path)
    css = folder / "partials" / "style.css.j2"
    css.write_text(css.read_text().replace("#0b4f8a", "#8a0b0b"), encoding="utf-8")
    rendered = render_issue(current_issue(news.store, "2026-W05", TZ), news.tags, news.config)
    assert "#8a0b0b" in rendered.html and "#0b4f8a" not in rendered.html


def test_an_undefined_name_in_a_template_is_an_error_naming_the_line(
    news: NewsState, tmp_path: Path
) -> None:
    news, folder = copy_templates(news, tmp_path)
    partial = folder / "partials" / "footer.txt.j2"
    partial.write_text(partial.read_text() + "{{ links.no_such_key }}\n", encoding="utf-8")
    with pytest.raises(OutputError, match=r"footer\.txt\.j2, line \d+: .*no_such_key"):
        render_issue(current_issue(news.store, "2026-W05", TZ), news.tags, news.config)


def test_a_template_the_folder_lacks_comes_from_the_packaged_ones(
    news: NewsState, tmp_path: Path
) -> None:
    # A folder from an older `feeder init` keeps working when a release adds a template.
    issue = current_issue(news.store, "2026-W05", TZ)
    packaged = render_issue(issue, news.tags, news.config)
    news, folder = copy_templates(news, tmp_path)
    (folder / "newsletter.txt.j2").unlink()
    (folder / "newsletter.html.j2").write_text("<p>{{ subject }}</p>\n", encoding="utf-8")
    rendered = render_issue(issue, news.tags, news.config)
    assert rendered is not None and packaged is not None
    assert rendered.text == packaged.text and "<p>上海科技周报 · 2026年第5周" in rendered.html


def test_a_template_syntax_error_names_the_file_and_line(news: NewsState, tmp_path: Path) -> None:
    news, folder = copy_templates(news, tmp_path)
    (folder / "newsletter.html.j2").write_text("<p>\n{% if %}\n", encoding="utf-8")
    with pytest.raises(OutputError, match=r"newsletter\.html\.j2, line 2"):
        render_issue(current_issue(news.store, "2026-W05", TZ), news.tags, news.config)


# -- Previews ------------------------------------------------------------------------------


def test_preview_writes_html_text_and_eml_and_leaves_unchanged_files_alone(
    news: NewsState,
) -> None:
    written = write_preview(news.store, news.config, "2026-W05", news.tags)
    folder = news.config.output.dir / "newsletter"
    assert sorted(written) == sorted(folder / f"2026-W05.{x}" for x in ("html", "txt", "eml"))
    eml = email.message_from_bytes(
        (folder / "2026-W05.eml").read_bytes(), policy=email.policy.default
    )
    assert eml["Subject"] == W05_SUBJECT
    part = eml.get_body(("html",))
    assert part is not None
    sent = part.get_content().replace("\r\n", "\n").rstrip("\n")
    web, mail = issue_message(news.store, news.config, "2026-W05", news.tags)
    # The .html is the web version, the .eml a reader's mail with placeholder links.
    assert (folder / "2026-W05.html").read_text() == web.html
    assert sent == mail.personalise("preview", "preview").html.rstrip("\n")
    assert "/unsubscribe/preview" in sent and "/unsubscribe/" not in web.html
    assert write_preview(news.store, news.config, "2026-W05", news.tags) == []


def test_latest_preview_renders_the_newest_week_with_articles(news: NewsState) -> None:
    key, written = news.feeder.preview(latest=True)
    assert key == "2026-W06"
    assert {p.name for p in written} == {"2026-W06.html", "2026-W06.txt", "2026-W06.eml"}
    text = (news.config.output.dir / "newsletter" / "2026-W06.txt").read_text()
    newest = news.store.entries(limit=1)[0].article
    assert newest.title in text


def test_latest_preview_of_an_empty_state_is_the_last_full_week(
    news: NewsState, tmp_path: Path
) -> None:
    config = replace(news.config, state=replace(news.config.state, path=tmp_path / "empty.db"))
    now = datetime(2026, 3, 4, 12, 0, tzinfo=TZ)
    with open_feeder(config, clock=lambda: now) as feeder:
        key, written = feeder.preview(latest=True)
    assert key == "2026-W09" == last_full_week(now, TZ)
    assert {p.name for p in written} == {"2026-W09.html", "2026-W09.txt", "2026-W09.eml"}
    assert "2026年第9周" in (config.output.dir / "newsletter" / "2026-W09.txt").read_text()


def test_cli_render_writes_the_chosen_week(news: NewsState, tmp_path: Path) -> None:
    config_file = tmp_path / "feeder.toml"
    config_file.write_text(
        f'[state]\npath = "{news.config.state.path}"\n'
        f'[output]\ndir = "{news.config.output.dir}"\n'
        f'[newsletter]\ntemplates = "{news.config.newsletter.templates}"\n'
        f'[taxonomy]\npath = "{TAXONOMY}"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main, ["--config", str(config_file), "newsletter", "render", "--week", "2026-W05"]
    )
    assert result.exit_code == 0, result.output
    html = (news.config.output.dir / "newsletter" / "2026-W05.html").read_text()
    assert all(e.article.title in TextOf(html).text for e in _week(news, "2026-W05"))
    bad = CliRunner().invoke(
        main, ["--config", str(config_file), "newsletter", "render", "--week", "2026-W99"]
    )
    assert bad.exit_code == 2 and "no week 99" in bad.output


def _week(news: NewsState, key: str) -> list[Entry]:
    return news.store.entries_published(*week_bounds(key, TZ))


def test_seed_tags_cover_every_section_in_w05(news: NewsState) -> None:
    # The fixtures' keyword rules give the seed week all four sections; the browser test
    # relies on it.
    primaries = {keyword_tags(e.article)[:1] for e in _week(news, "2026-W05")}
    assert primaries == {("policy",), ("research",), ("industry",), ()}
