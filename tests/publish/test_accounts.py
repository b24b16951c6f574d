"""Per-account feeds: a corpus of several 公众号 gets one feed per account, under a slug that
is chosen once and kept."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import feedparser

from feeder.app import open_feeder
from feeder.publish.accounts import biz_slug, choose_slug
from feeder.publish.feeds import entry_id
from tests.conftest import DATA, Site, run_poll

TWO_ACCOUNTS = DATA / "two-accounts.json"
# The __biz of each account's links, base64 of these numbers.
SLUGS = {"上海科技": "3073857911", "科学探索": "3245766420"}


def two_account_site(make_site) -> Site:  # type: ignore[no-untyped-def]
    site = make_site()
    shutil.copy(TWO_ACCOUNTS, site.corpus)
    return site


def records() -> list[dict[str, str]]:
    return json.loads(TWO_ACCOUNTS.read_text(encoding="utf-8"))


def test_each_account_gets_its_feeds_with_only_its_articles(make_site) -> None:  # type: ignore[no-untyped-def]
    site = two_account_site(make_site)
    run_poll(site.config)
    for name, slug in SLUGS.items():
        mine = {entry_id(r["文章标识符aid"]) for r in records() if r["公众号名称"] == name}
        for fmt in ("atom", "rss"):
            parsed = feedparser.parse((site.out / f"feeds/account/{slug}.{fmt}").read_bytes())
            assert parsed.bozo == 0, parsed.bozo_exception
            assert {entry.id for entry in parsed.entries} == mine
        items = json.loads((site.out / f"feeds/account/{slug}.json").read_text(encoding="utf-8"))
        assert {item["id"] for item in items["items"]} == mine
        assert items["title"] == f"{name} · {name}"
    # The OPML keeps the site's feeds at the top and the accounts' in a folder.
    body = ET.fromstring((site.out / "feeds.opml").read_bytes()).find("body")
    assert body is not None
    folder = [o for o in body.findall("outline") if o.get("xmlUrl") is None]
    assert len(folder) == 1
    assert [o.get("xmlUrl") for o in folder[0]] == [
        f"http://127.0.0.1:8000/feeds/account/{slug}.atom" for slug in sorted(SLUGS.values())
    ]
    page = (site.out / "index.html").read_text(encoding="utf-8")
    assert '<section id="accounts">' in page
    for slug in SLUGS.values():
        assert f'href="http://127.0.0.1:8000/feeds/account/{slug}.atom"' in page


def test_one_account_gets_nothing_extra(site: Site) -> None:
    run_poll(site.config)  # the bundled corpus: one account
    assert not (site.out / "feeds/account").exists()
    assert "accounts" not in (site.out / "index.html").read_text(encoding="utf-8")
    outlines = ET.fromstring((site.out / "feeds.opml").read_bytes()).iter("outline")
    assert all(outline.get("xmlUrl") for outline in outlines)  # no folder


def test_a_slug_is_kept_when_the_links_change(make_site) -> None:  # type: ignore[no-untyped-def]
    site = two_account_site(make_site)
    run_poll(site.config)
    changed = records()
    for record in changed:
        record["链接url"] = record["链接url"].replace("__biz=MzA3", "__biz=MzE3")
        record["finalContent"] += "（更新）"
    site.write_corpus(changed)
    run_poll(site.config)
    with open_feeder(site.config) as feeder:
        assert feeder.storage.account_slugs() == SLUGS
    parsed = feedparser.parse((site.out / f"feeds/account/{SLUGS['上海科技']}.atom").read_bytes())
    assert all("（更新）" in entry.content[0].value for entry in parsed.entries)


def test_slugs_from_biz_else_a_hash_and_never_twice() -> None:
    assert biz_slug("http://mp.weixin.qq.com/s?__biz=MzA3Mzg1NzkxMQ==&mid=1") == "3073857911"
    # Not base64 of a number: its URL-safe form, without padding.
    assert biz_slug("https://mp.weixin.qq.com/s?__biz=YWJj") == "YWJj"
    assert biz_slug("https://mp.weixin.qq.com/s?__biz=ab%2B%2Fcd%3D%3D") == "ab-_cd"
    assert biz_slug("https://mp.weixin.qq.com/s/abc") == ""
    assert biz_slug(None) == ""
    hashed = choose_slug("某公众号", ["https://example.com/a"], set())
    assert hashed.startswith("a-") and hashed.isascii()
    assert choose_slug("某公众号", [None], set()) == hashed  # stable: the same name, the same
    url = "http://mp.weixin.qq.com/s?__biz=MzA3Mzg1NzkxMQ=="
    assert choose_slug("甲", [url], {"3073857911"}) == "3073857911-2"
    assert choose_slug("乙", ["https://x/?__biz=AbC"], {"abc"}) == "AbC-2"  # case-blind clash


def test_a_long_biz_is_hashed_so_one_record_cannot_stop_the_poll(make_site) -> None:  # type: ignore[no-untyped-def]
    # A 252-character __biz once named a feed file the file system refused: every poll
    # failed with "File name too long" and the state stayed empty.
    long_biz = "A" * 252
    assert biz_slug(f"https://mp.weixin.qq.com/s?__biz={long_biz}&mid=1") == ""
    site = two_account_site(make_site)
    hostile = {**records()[0], "文章标识符aid": "long-biz", "公众号名称": "长号"}
    hostile["链接url"] = f"https://mp.weixin.qq.com/s?__biz={long_biz}&mid=1&idx=1"
    site.write_corpus([*records(), hostile])
    result = run_poll(site.config)
    assert result.new == len(records()) + 1
    with open_feeder(site.config) as feeder:
        slug = feeder.storage.account_slugs()["长号"]
    assert slug == choose_slug("长号", [None], set())  # the name's hash
    parsed = feedparser.parse((site.out / f"feeds/account/{slug}.atom").read_bytes())
    assert [entry.id for entry in parsed.entries] == [entry_id("long-biz")]
    assert all(len(p.name.encode()) <= 64 for p in site.out.rglob("*"))
