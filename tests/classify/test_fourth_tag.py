"""Categories are data: a tag added to the taxonomy, and nothing else, reaches every output."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import feedparser
from click.testing import CliRunner

from feeder.cli import main
from feeder.publish import entry_id
from tests.conftest import Site

AI_TAG = """
[tags.ai]
label = "人工智能"
description = "人工智能与大模型"

[[tags.ai.words]]
weight = 50
terms = ["人工智能", "大模型", "AI"]
"""
AI_ARTICLE = "2650224682_1"  # "AI的下一个前沿阵地是什么？…", 2026/2/5 (week 2026-W06)


def run(site: Site, *args: str) -> str:
    result = CliRunner().invoke(main, ["--config", str(site.config_path), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_fourth_tag_in_the_taxonomy_gets_every_output(site: Site) -> None:
    taxonomy = site.root / "data" / "taxonomy.toml"
    taxonomy.write_text(taxonomy.read_text(encoding="utf-8") + AI_TAG, encoding="utf-8")
    run(site, "poll")

    feed = feedparser.parse((site.out / "feeds" / "ai.atom").read_bytes())
    assert feed.bozo == 0 and feed.feed.title.endswith("· 人工智能")
    assert entry_id(AI_ARTICLE) in [entry.id for entry in feed.entries]
    assert all("ai" in [c.term for c in entry.tags] for entry in feed.entries)

    opml = ET.fromstring((site.out / "feeds.opml").read_bytes())
    urls = [outline.get("xmlUrl") for outline in opml.iter("outline")]
    assert urls[-1] == "http://127.0.0.1:8000/feeds/ai.atom" and len(urls) == 5

    index = (site.out / "index.html").read_text(encoding="utf-8")
    assert '<section id="ai">' in index and "<h2>人工智能" in index
    assert 'type="application/atom+xml" title="上海科技 · 人工智能"' in index

    run(site, "newsletter", "render", "--latest")
    text = (site.out / "newsletter" / "2026-W06.txt").read_text(encoding="utf-8")
    section = text.split("【人工智能】", 1)[1].split("【", 1)[0]
    assert "AI的下一个前沿阵地是什么" in section
    html = (site.out / "newsletter" / "2026-W06.html").read_text(encoding="utf-8")
    assert "人工智能" in html and "http://127.0.0.1:8000/feeds/ai.atom" in html

    status = json.loads(run(site, "status", "--json"))
    assert list(status["per_tag"]) == ["policy", "research", "industry", "ai", ""]
    assert status["per_tag"]["ai"] == len(feed.entries)
    assert f"  ai              {len(feed.entries)}" in run(site, "status").splitlines()


def test_a_tag_with_no_articles_yet_still_has_its_feed_and_status_line(site: Site) -> None:
    taxonomy = site.root / "data" / "taxonomy.toml"
    quiet = AI_TAG.replace("ai", "quantum").replace(
        '"人工智能", "大模型", "AI"', '"没有哪篇文章会用到的短语"'
    )
    taxonomy.write_text(taxonomy.read_text(encoding="utf-8") + quiet, encoding="utf-8")
    run(site, "poll")
    assert feedparser.parse((site.out / "feeds" / "quantum.atom").read_bytes()).entries == []
    assert '<section id="quantum">' in (site.out / "index.html").read_text(encoding="utf-8")
    assert json.loads(run(site, "status", "--json"))["per_tag"]["quantum"] == 0
