"""The published site: one Atom feed per tag plus one of everything, an OPML list, an index page.

Building is pure (`build_site` turns entries into bytes); `publish` reads the store and
writes only the files whose bytes changed, so unchanged feeds keep their mtime and
HTTP caches stay valid. The only module importing feedgen.

What readers rely on, and so must never change between runs:

- An entry's id is `tag:feeder,2026:article/<article id, percent-encoded>`: the article id
  alone, the same in every feed, unaffected by `output.base_url` or the WeChat URL.
- A feed's id is `tag:<base_url host>,2026:<base_url path>feeds/<name>`.
- No build time appears anywhere. A feed's `updated` is its newest entry's; an empty
  feed's is a fixed 2000-01-01T00:00:00Z, so it too is the same on every run (not the
  Unix epoch: validators call dates before 1990 implausible).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from urllib.parse import quote, urlsplit

from feedgen.feed import FeedGenerator

from . import __version__
from .config import Config
from .errors import OutputError, StateError
from .files import write_if_changed
from .model import Entry, Tag
from .store import Store

ALL = "all"  # the feed of every article, whatever its tags
ALL_LABEL = "全部"
FALLBACK_ACCOUNT = "feeder"
OPML = "feeds.opml"
INDEX = "index.html"
# The contract with the poll pipeline and with subscribers: these paths never move.
OUTPUT_FILES = (
    "feeds/all.atom",
    "feeds/policy.atom",
    "feeds/research.atom",
    "feeds/industry.atom",
    OPML,
    INDEX,
)
ATOM_TYPE = "application/atom+xml"
EMPTY_FEED_UPDATED = datetime(2000, 1, 1, tzinfo=UTC)
ENTRY_ID_PREFIX = "tag:feeder,2026:article/"
SUMMARY_CHARS = 120
NO_TITLE = "（无标题）"
NO_TEXT = "（无正文）"
INDEX_LATEST = 5  # articles listed per category on the index page

# What XML 1.0 cannot carry (C0 controls but tab and newline, lone surrogates, U+FFFE/F),
# plus CR and the C1 controls, which are never meant in article text.
_NOT_XML = re.compile("[^\t\n\u0020-\u007e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TAG_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")


def publish(store: Store, tags: Sequence[Tag], config: Config) -> list[Path]:
    """Rebuild the feeds, OPML and index page from the store; return the files rewritten."""
    limit = config.output.max_entries
    entries: dict[str, list[Entry]] = {ALL: store.entries(limit=limit)}
    for tag in tags:
        entries[tag.id] = store.entries(tag.id, limit=limit)
    site = build_site(
        entries,
        tags,
        base_url=config.output.base_url,
        account=account_name(entries[ALL]),
        tz=config.tz,
    )
    out = config.output.dir
    # In build order: feeds before the OPML and page that link to them.
    return [out / name for name, data in site.items() if write_if_changed(out / name, data)]


def rebuild(config: Config) -> list[Path]:
    """`feeder build`: publish from the state file and the taxonomy, without polling."""
    from .classify import load_taxonomy  # its matcher is not needed just to read the tags

    if not config.state.path.exists():
        raise StateError(f"{config.state.path}: no state yet (run `feeder poll` first)")
    tags = load_taxonomy(config.taxonomy.path).tags
    with Store.open(config.state.path, config.tz) as store, store.transaction():
        # One transaction: every file is built from the same snapshot of the state.
        return publish(store, tags, config)


def account_name(entries: Sequence[Entry]) -> str:
    """The newest entry's account, for titles; "feeder" when there is none."""
    newest = _ordered(entries)
    name = _line(newest[0].article.account) if newest else ""
    return name or FALLBACK_ACCOUNT


def build_site(
    entries: Mapping[str, Sequence[Entry]],
    tags: Sequence[Tag],
    *,
    base_url: str,
    account: str,
    tz: tzinfo,
) -> dict[str, bytes]:
    """Every output file, by path relative to the output folder; no I/O, no clock.

    `entries` holds the entries of each feed by name: "all" and each tag's id (a missing
    name means an empty feed). `base_url` ends with "/".
    """
    _check_tag_ids(tags)
    labels = {tag.id: tag.label for tag in tags}
    feeds = [feed_info(ALL, ALL_LABEL, f"{account}公众号的全部文章", account, base_url)]
    for tag in tags:
        about = f"{account}公众号的{_line(tag.label)}类文章"
        description = _line(tag.description)
        subtitle = f"{about}：{description}" if description else about
        feeds.append(feed_info(tag.id, _line(tag.label), subtitle, account, base_url))
    site: dict[str, bytes] = {}
    for feed in feeds:
        site[feed.path] = build_feed(feed, entries.get(feed.name, ()), labels, tz)
    site[OPML] = build_opml(feeds, account)
    latest = {tag.id: _ordered(entries.get(tag.id, ()))[:INDEX_LATEST] for tag in tags}
    site[INDEX] = build_index(feeds, tags, latest, account, base_url, tz)
    return site


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """One feed's name, words and addresses."""

    name: str  # "all" or a tag id; the file is feeds/<name>.atom
    label: str  # 全部, or the tag's label
    title: str  # "<account> · <label>"
    subtitle: str  # one line saying what the feed holds
    account: str  # the feed's author
    path: str  # relative to the output folder
    url: str  # absolute, under base_url: the rel="self" link
    html_url: str  # the index page (at the tag's section): the rel="alternate" link
    id: str  # the feed's tag: URI


def feed_info(name: str, label: str, subtitle: str, account: str, base_url: str) -> FeedInfo:
    path = f"feeds/{name}.atom"
    parts = urlsplit(base_url)
    host = re.sub(r"[^a-z0-9.-]", "", (parts.hostname or "").lower()) or FALLBACK_ACCOUNT
    return FeedInfo(
        name=name,
        label=label,
        title=f"{account} · {label}",
        subtitle=subtitle,
        account=account,
        path=path,
        url=base_url + path,
        html_url=base_url + INDEX + ("" if name == ALL else f"#{name}"),
        id=f"tag:{host},2026:{quote(parts.path or '/')}feeds/{name}",
    )


def build_feed(
    feed: FeedInfo, entries: Iterable[Entry], labels: Mapping[str, str], tz: tzinfo
) -> bytes:
    """One Atom 1.0 document: entries newest first, at most as many as given."""
    ordered = _ordered(entries)
    fg = FeedGenerator()
    fg.id(feed.id)
    fg.title(_text(feed.title))
    fg.subtitle(_text(feed.subtitle))
    fg.language("zh-CN")
    fg.author({"name": _text(feed.account)})
    fg.link(href=feed.url, rel="self", type=ATOM_TYPE)
    fg.link(href=feed.html_url, rel="alternate", type="text/html")
    fg.generator("feeder", version=__version__)
    newest = max((_updated(e) for e in ordered), default=EMPTY_FEED_UPDATED)
    fg.updated(newest.astimezone(tz))
    for entry in ordered:
        _add_entry(fg, entry, labels, feed.account, tz)
    return bytes(fg.atom_str(pretty=True))


def _add_entry(
    fg: FeedGenerator, entry: Entry, labels: Mapping[str, str], account: str, tz: tzinfo
) -> None:
    article = entry.article
    fe = fg.add_entry(order="append")  # feedgen prepends by default
    fe.id(entry_id(article.id))
    fe.title(_line(article.title) or NO_TITLE)
    fe.updated(_updated(entry).astimezone(tz))
    fe.published(article.published.astimezone(tz))
    fe.author({"name": _line(article.author or "") or _line(article.account) or account})
    url = _web_url(article.url)
    if url is not None:
        # feedgen 1.0 drops rel from entry links; a link without rel is "alternate" (RFC 4287).
        fe.link(href=url, rel="alternate")
    for tag in entry.tags:
        if tag in labels:
            fe.category(term=tag, label=_text(labels[tag]))
        else:
            fe.category(term=_text(tag))
    body = content_html(article.content)
    # An article without text (a video, a picture post) still says so: validators and
    # readers flag an entry with neither summary nor content.
    fe.summary(excerpt(article.content) if body else NO_TEXT)
    if body:
        fe.content(body, type="html")
    elif url is None:  # Atom wants content where there is no link to the article
        fe.content(f"<p>{NO_TEXT}</p>", type="html")


def entry_id(article_id: str) -> str:
    """The entry's tag: URI, from the article id alone; every unsafe character percent-encoded."""
    return ENTRY_ID_PREFIX + quote(article_id, safe="", errors="surrogatepass")


def excerpt(text: str, limit: int = SUMMARY_CHARS) -> str:
    """Plain text of at most `limit` characters, white space collapsed, "…" where cut."""
    flat = " ".join(_text(text).split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"


def content_html(text: str) -> str:
    """Paragraphs as <p>, line breaks as <br/>, every character of the text escaped."""
    paragraphs = (p.strip("\n") for p in re.split(r"\n{2,}", _text(text)))
    return "\n".join(
        "<p>" + "<br/>".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
        if p.strip()
    )


def build_opml(feeds: Sequence[FeedInfo], account: str) -> bytes:
    """OPML 2.0 listing every feed, for importing them all into a reader at once."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{_xml(account)} · 订阅源</title>",
        "  </head>",
        "  <body>",
    ]
    for feed in feeds:
        lines.append(
            f'    <outline type="rss" text="{_xml(feed.title)}" title="{_xml(feed.title)}"'
            f' xmlUrl="{_xml(feed.url)}" htmlUrl="{_xml(feed.html_url)}"/>'
        )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")


_STYLE = """
body { font-family: system-ui, -apple-system, "PingFang SC", "Microsoft YaHei",
  "WenQuanYi Micro Hei", sans-serif; max-width: 42rem; margin: 0 auto; padding: 1rem;
  line-height: 1.6; color: #222; background: #fff; }
h1 { font-size: 1.5rem; margin: .5rem 0; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; border-bottom: 1px solid #ddd; }
a { color: #0645ad; }
ul, ol { padding-left: 1.4rem; }
li { margin: .5rem 0; }
code { display: block; font-size: .85em; overflow-wrap: anywhere; color: #444; }
time { display: block; color: #666; font-size: .85em; }
.feed { font-size: .8rem; font-weight: normal; margin-left: .5em; }
"""


def build_index(
    feeds: Sequence[FeedInfo],
    tags: Sequence[Tag],
    latest: Mapping[str, Sequence[Entry]],
    account: str,
    base_url: str,
    tz: tzinfo,
) -> bytes:
    """The page a person lands on: how to subscribe, and the newest articles per category."""
    e = _xml
    title = f"{account} · 订阅源"
    out = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>",
    ]
    for feed in feeds:
        out.append(
            f'<link rel="alternate" type="{ATOM_TYPE}" title="{e(feed.title)}"'
            f' href="{e(feed.url)}">'
        )
    out += [f"<style>{_STYLE}</style>", "</head>", "<body>", f"<h1>{e(title)}</h1>"]
    out += [
        "<p>订阅方法：复制下面任一订阅地址，粘贴到你的 RSS 阅读器（如 Feedly、Inoreader、"
        "NetNewsWire）中即可。<br>"
        f'或者下载 <a href="{e(base_url + OPML)}">OPML 文件</a>，在阅读器中导入，'
        "一次订阅全部分类。</p>",
        '<ul class="feeds">',
    ]
    for feed in feeds:
        out.append(
            f'<li><a href="{e(feed.url)}">{e(feed.label)}</a> <code>{e(feed.url)}</code></li>'
        )
    out.append("</ul>")
    urls = {feed.name: feed.url for feed in feeds}
    for tag in tags:
        out.append(f'<section id="{e(tag.id)}">')
        out.append(
            f'<h2>{e(_line(tag.label))}<a class="feed" href="{e(urls[tag.id])}">订阅</a></h2>'
        )
        if latest.get(tag.id):
            out.append("<ol>")
            out += [_index_item(entry, tz) for entry in latest[tag.id]]
            out.append("</ol>")
        else:
            out.append("<p>暂无文章。</p>")
        out.append("</section>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out).encode("utf-8")


def _index_item(entry: Entry, tz: tzinfo) -> str:
    article = entry.article
    title = _xml(_line(article.title) or NO_TITLE)
    url = _web_url(article.url)
    link = title if url is None else f'<a href="{_xml(url)}">{title}</a>'
    day = article.published.astimezone(tz).date().isoformat()
    return f'<li>{link}<time datetime="{day}">{day}</time></li>'


# -- Small helpers -------------------------------------------------------------------


def _ordered(entries: Iterable[Entry]) -> list[Entry]:
    # Newest published first, ties by id (descending, as the store orders them): a total order.
    return sorted(entries, key=lambda e: (e.article.published, e.article.id), reverse=True)


def _updated(entry: Entry) -> datetime:
    # An entry is never updated before it was published (a validator would flag it).
    return max(entry.updated, entry.article.published)


def _text(text: str) -> str:
    """Only what XML can carry; CR becomes a line break."""
    return _NOT_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _line(text: str) -> str:
    return " ".join(_text(text).split())


def _xml(text: str) -> str:
    """Escaped for XML/HTML text and quoted attributes."""
    return html.escape(_text(text), quote=True)


def _web_url(url: str | None) -> str | None:
    """An http(s) URL with any character that may not stand in a URI percent-encoded."""
    if not url:
        return None
    url = _text(url).strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:  # e.g. an unclosed "[" in the host
        return None
    if scheme not in ("http", "https"):
        return None
    return quote(url, safe="!#$%&'()*+,-./:;=?@[]_~", errors="surrogatepass")


def _check_tag_ids(tags: Sequence[Tag]) -> None:
    # A tag id becomes a file name: keep it to a plain name that cannot leave feeds/.
    seen = {ALL}
    for tag in tags:
        if not _TAG_ID.fullmatch(tag.id) or tag.id in seen:
            raise OutputError(
                f"tag id {tag.id!r} cannot name a feed: use lower-case letters, digits, "
                f"'-' and '_', not {ALL!r}, and each id once (check the taxonomy)"
            )
        seen.add(tag.id)
