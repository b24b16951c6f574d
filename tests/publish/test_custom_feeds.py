"""Custom feeds from `[[feeds]]`: which articles match, the config errors that name the key,
and the feed files, OPML outlines and index-page entries they get."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from feeder.cli import main
from feeder.config import FeedDef, parse_config
from feeder.errors import ConfigError
from feeder.model import Article, Entry
from feeder.publish.custom import MATCH_CHARS, matches
from feeder.publish.feeds import entry_id
from tests.conftest import (
    POLL_TIME,
    FeedState,
    Site,
    make_article,
    open_feed_state,
    run_poll,
    sample_articles,
)

AI_FEEDS = """
[[feeds]]
name = "ai"
title = "人工智能"
tags = ["research", "industry"]
include = 'AI|大模型|人工智能'
exclude = '招聘'

[[feeds]]
name = "notices"
include = '^【通知】'
"""


def entry(article: Article, tags: Sequence[str] = ()) -> Entry:
    return Entry(article, tuple(tags), article.published, POLL_TIME)


def feed(text: str) -> FeedDef:
    """The first custom feed of a config holding `text` after its [[feeds]] line."""
    return parse_config(f"[[feeds]]\nname = 'f'\n{text}\n", Path("/")).feeds[0]


# -- Matching --------------------------------------------------------------------------------


def test_no_filters_match_every_article() -> None:
    anything = feed("")
    assert anything.tags == () and anything.include is None and anything.exclude is None
    assert matches(anything, entry(make_article("a"), ()))
    assert matches(anything, entry(make_article("b"), ("policy",)))


def test_tags_are_any_of() -> None:
    two = feed("tags = ['research', 'industry']")
    assert matches(two, entry(make_article("a"), ("research",)))
    assert matches(two, entry(make_article("b"), ("policy", "industry")))  # not only primary
    assert not matches(two, entry(make_article("c"), ("policy",)))
    assert not matches(two, entry(make_article("d"), ()))


def test_include_searches_title_and_text_and_exclude_wins() -> None:
    f = feed(r"include = '大模型|\bAI\b'" + "\nexclude = '招聘'")
    assert matches(f, entry(make_article("t", title="大模型周报")))
    assert matches(f, entry(make_article("c", content="第一段。\n\n谈谈 AI 的未来")))
    assert not matches(f, entry(make_article("n", title="芯片", content="RAID 阵列")))  # \b
    assert not matches(f, entry(make_article("x", title="大模型团队招聘")))
    assert not matches(f, entry(make_article("y", title="招聘", content="正文")))


def test_only_exclude_and_inline_flags() -> None:
    assert not matches(feed("exclude = '招聘'"), entry(make_article("a", content="诚聘招聘")))
    assert matches(feed("exclude = '招聘'"), entry(make_article("b")))
    assert matches(feed("include = '(?i)openai'"), entry(make_article("c", title="OpenAI")))


def test_patterns_see_only_the_start_of_a_long_text() -> None:
    # Bounded work per article: a match past MATCH_CHARS characters of text is not seen.
    f = feed("include = '关键词'")
    near = "字" * (MATCH_CHARS - 3) + "关键词"
    far = "字" * MATCH_CHARS + "关键词"
    assert matches(f, entry(make_article("near", content=near)))
    assert not matches(f, entry(make_article("far", content=far)))


def test_an_empty_pattern_is_no_filter() -> None:
    # An empty exclude would otherwise exclude everything.
    f = feed("include = ''\nexclude = ''")
    assert f.include is None and f.exclude is None
    assert matches(f, entry(make_article("a")))


# -- Config errors, each naming its key ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[[feeds]]\nname = 'a'\ninclude = '(unclosed'\n", "feeds[0].include: bad regular"),
        ("[[feeds]]\nname = 'a'\nexclude = '*'\n", "feeds[0].exclude: bad regular"),
        ("[[feeds]]\nname = 'a'\ninclude = 3\n", "feeds[0].include must be a regular"),
        ("[[feeds]]\ntitle = 'no name'\n", "feeds[0].name must be a plain name"),
        ("[[feeds]]\nname = 'AI'\n", "feeds[0].name must be a plain name"),
        ("[[feeds]]\nname = '../x'\n", "feeds[0].name must be a plain name"),
        ("[[feeds]]\nname = 'a b'\n", "feeds[0].name must be a plain name"),
        (f"[[feeds]]\nname = '{'a' * 65}'\n", "feeds[0].name must be a plain name"),
        ("[[feeds]]\nname = 'all'\n", "feeds[0].name: 'all' is the feed of every article"),
        (
            "[[feeds]]\nname = 'a'\n[[feeds]]\nname = 'b'\n[[feeds]]\nname = 'a'\n",
            "feeds[2].name: 'a' is already feeds[0].name",
        ),
        ("[[feeds]]\nname = 'a'\ntitle = ' '\n", "feeds[0].title must be a non-empty"),
        ("[[feeds]]\nname = 'a'\ntags = 'research'\n", "feeds[0].tags must be a list"),
        ("[[feeds]]\nname = 'a'\nlabel = 'x'\n", "unknown key feeds[0].label"),
        ("feeds = 'ai'\n", "feeds must be [[feeds]] tables"),
        ("[output]\nwebsub_hub = 'ftp://hub.example.org/'\n", "output.websub_hub must be"),
    ],
)
def test_config_errors_name_the_key(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("/"))
    assert says in str(caught.value)


@pytest.mark.parametrize(
    ("feeds", "says"),
    [
        (
            "[[feeds]]\nname = 'ok'\n[[feeds]]\nname = 'ai'\ntags = ['research', 'sports']\n",
            "feeds[1].tags: unknown tag 'sports'",
        ),
        ("[[feeds]]\nname = 'policy'\n", "feeds[0].name: 'policy' is a tag's id"),
    ],
)
def test_errors_that_need_the_taxonomy_stop_poll_and_build(
    make_site: Callable[..., Site], feeds: str, says: str
) -> None:
    # Checked when the taxonomy is read: before a poll reads anything, so a bad feed costs
    # no ingest that would be rolled back, and nothing is written.
    site = make_site(extra=feeds)
    with pytest.raises(ConfigError) as caught:
        run_poll(site.config)
    assert says in str(caught.value)
    assert not (site.out / "feeds").exists()
    for command in ("poll", "build"):
        result = CliRunner().invoke(main, ["--config", str(site.config_path), command])
        assert result.exit_code == 1, result.output
        assert result.stderr.strip() == f"Error: {caught.value!s}"


# -- The feeds, the OPML and the index page -----------------------------------------------


@pytest.fixture
def custom_state(tmp_path: Path) -> Iterator[FeedState]:
    state = open_feed_state(tmp_path, "http://127.0.0.1:8000/", "max_entries = 2\n" + AI_FEEDS)
    yield state
    state.feeder.close()


def _articles() -> list[tuple[Article, tuple[str, ...]]]:
    """The sample articles, plus a job ad that mentions AI and an older AI article."""
    return [
        *sample_articles(),
        (make_article("job", "2026-02-05", "AI 实验室招聘", "欢迎加入。"), ("industry",)),
        (make_article("old-ai", "2026-01-20", "大模型综述", "……"), ("research",)),
        (make_article("new-ai", "2026-02-03", "大模型落地", "产业应用。"), ("industry",)),
    ]


def test_custom_feeds_hold_the_newest_matches(custom_state: FeedState) -> None:
    written = custom_state.poll(_articles())
    out = custom_state.out
    assert {out / "feeds/ai.atom", out / "feeds/notices.atom"} <= set(written)

    ai = feedparser.parse((out / "feeds/ai.atom").read_bytes())
    assert ai.bozo == 0, ai.bozo_exception
    # The AI articles that are research or industry, newest first, at most max_entries
    # (the job ad excluded, the oldest beyond the limit).
    assert [e.id for e in ai.entries] == [entry_id("2650224682_1"), entry_id("new-ai")]
    assert ai.feed.title == "上海科技 · 人工智能"
    assert ai.feed.id == "tag:127.0.0.1,2026:/feeds/ai"
    assert ai.feed.links[0].href == "http://127.0.0.1:8000/feeds/ai.atom"

    notices = feedparser.parse((out / "feeds/notices.atom").read_bytes())
    assert [e.id for e in notices.entries] == [entry_id("2650224675_1")]  # any tag
    assert notices.feed.title == "上海科技 · notices"  # the name when there is no title


def test_custom_feeds_are_in_the_opml_and_on_the_index_page(custom_state: FeedState) -> None:
    custom_state.poll(_articles())
    out = custom_state.out
    outlines = ET.fromstring((out / "feeds.opml").read_bytes()).iter("outline")
    urls = [o.get("xmlUrl") for o in outlines]
    base = "http://127.0.0.1:8000/feeds/"
    assert urls[-2:] == [base + "ai.atom", base + "notices.atom"]  # after the tags' feeds
    page = (out / "index.html").read_text(encoding="utf-8")
    assert f'title="上海科技 · 人工智能" href="{base}ai.atom"' in page
    assert f'<a href="{base}notices.atom">notices</a>' in page


def test_an_unchanged_feed_keeps_its_bytes(custom_state: FeedState) -> None:
    custom_state.poll(_articles())
    before = (custom_state.out / "feeds/ai.atom").read_bytes()
    # A feed holds its newest arrivals (RFC 5005 archives keep the rest), so only an article
    # the feed does not match leaves it as it was.
    later = make_article("later", "2026-02-06", "校园新闻", "……")
    written = custom_state.poll([(later, ("research",))])
    assert custom_state.out / "feeds/research.atom" in written
    assert custom_state.out / "feeds/ai.atom" not in written
    assert (custom_state.out / "feeds/ai.atom").read_bytes() == before


def test_a_feed_added_to_the_config_appears_on_an_unchanged_poll(
    make_site: Callable[..., Site],
) -> None:
    site = make_site()
    run_poll(site.config)
    site.config_path.write_text(
        site.config_path.read_text(encoding="utf-8") + "[[feeds]]\nname = 'everything'\n",
        encoding="utf-8",
    )
    result = run_poll(site.config)
    assert not result.read
    # Its archive page first (the feed links it), then the feed; nothing else changed.
    assert [p.relative_to(site.out).as_posix() for p in result.written] == [
        "feeds/archive/everything/1.atom",
        "feeds/everything.atom",
        "feeds/everything.rss",
        "feeds/everything.json",
        "feeds.opml",
        "index.html",
    ]
    everything = feedparser.parse((site.out / "feeds/everything.atom").read_bytes())
    assert len(everything.entries) == 50  # the default max_entries of the 54 articles
