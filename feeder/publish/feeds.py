"""Atom feeds (one per tag, and the newsletter's feed of issues), their RSS 2.0 twins and the
OPML list, built as bytes: pure, no I/O, no clock. The only module that imports feedgen.

What readers rely on, and so must never change between runs:

- An entry's id is `tag:feeder,2026:article/<article id, percent-encoded>`: the article id
  alone, the same in every feed, unaffected by `output.base_url` or the WeChat URL.
- A feed's id is `tag:<base_url host>,2026:<base_url path>feeds/<name>`; the issues feed's
  is `tag:<base_url host>,2026:<base_url path>newsletter/issues`, and an issue's entry id is
  `tag:feeder,2026:issue/<week>`, like an article's unaffected by `output.base_url`.
- No build time appears anywhere. A feed's `updated` is its newest entry's (the issues
  feed's: its newest issue's freezing time); an empty feed's is a fixed
  2000-01-01T00:00:00Z, so it too is the same on every run (not the Unix epoch: validators
  call dates before 1990 implausible).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from urllib.parse import quote, urlsplit

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

from .. import __version__
from ..model import Entry, IssueRecord
from ..site import (
    ALL,
    FORMATS,
    ISSUES_FEED,
    archive_url,
    feed_path,
    feed_url,
    index_url,
    issues_feed_url,
    web_version_url,
)
from ..text import excerpt, newest_first, one_line, web_url, xml_escape, xml_text

FALLBACK_ACCOUNT = "feeder"
ATOM_TYPE = "application/atom+xml"
RSS_TYPE = "application/rss+xml"
JSON_FEED_TYPE = "application/feed+json"
MEDIA_TYPES = {"atom": ATOM_TYPE, "rss": RSS_TYPE, "json": JSON_FEED_TYPE}  # by format
EMPTY_FEED_UPDATED = datetime(2000, 1, 1, tzinfo=UTC)
ENTRY_ID_PREFIX = "tag:feeder,2026:article/"
ISSUE_ID_PREFIX = "tag:feeder,2026:issue/"
NO_TITLE = "（无标题）"
NO_TEXT = "（无正文）"
ACCOUNTS_FOLDER = "按公众号"  # the OPML folder of the per-account feeds


@dataclass(frozen=True, slots=True)
class FeedFile:
    """One format of a feed: what a reader is told to expect, and where it is."""

    format: str  # "atom", "rss" or "json": the file's extension
    type: str  # its media type, for <link rel="alternate" type=…>
    path: str  # relative to the output folder
    url: str  # absolute, under base_url: that format's rel="self"


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
    files: tuple[FeedFile, ...]  # the feed in each format it is written in, Atom first
    hub: str = ""  # the WebSub hub it names with rel="hub"; "" for none
    prev_archive: str = ""  # its newest archive page (RFC 5005), "" while it has none


def feed_info(name: str, label: str, subtitle: str, account: str, base_url: str) -> FeedInfo:
    return FeedInfo(
        name=name,
        label=label,
        title=f"{account} · {label}",
        subtitle=subtitle,
        account=account,
        path=feed_path(name),
        url=feed_url(base_url, name),
        html_url=index_url(base_url, None if name == ALL else name),
        id=_feed_id(base_url, f"feeds/{name}"),
        files=tuple(
            FeedFile(fmt, MEDIA_TYPES[fmt], feed_path(name, fmt), feed_url(base_url, name, fmt))
            for fmt in FORMATS
        ),
    )


def issues_feed_info(newsletter: str, base_url: str) -> FeedInfo:
    """The feed of sent issues: its page is the archive, its author the newsletter."""
    return FeedInfo(
        name="issues",
        label="往期",
        title=f"{newsletter} · 往期",
        subtitle=f"{newsletter}已发出的每一期，附网页版链接",
        account=newsletter,
        path=ISSUES_FEED,
        url=issues_feed_url(base_url),
        html_url=archive_url(base_url),
        id=_feed_id(base_url, "newsletter/issues"),
        files=(FeedFile("atom", ATOM_TYPE, ISSUES_FEED, issues_feed_url(base_url)),),
    )


def _feed_id(base_url: str, name: str) -> str:
    # From the site's address, so two sites never share a feed id; a tag: URI, so the id
    # stays a name and is never fetched.
    parts = urlsplit(base_url)
    host = re.sub(r"[^a-z0-9.-]", "", (parts.hostname or "").lower()) or FALLBACK_ACCOUNT
    return f"tag:{host},2026:{quote(parts.path or '/')}{name}"


def build_feed(
    feed: FeedInfo, entries: Iterable[Entry], labels: Mapping[str, str], tz: tzinfo
) -> bytes:
    """One Atom 1.0 document: entries newest first, at most as many as given."""
    ordered = newest_first(entries)
    newest = max((entry_updated(e) for e in ordered), default=EMPTY_FEED_UPDATED)
    fg = _start_feed(feed, newest, tz)
    for entry in ordered:
        _add_entry(fg, entry, labels, feed.account, tz)
    return bytes(fg.atom_str(pretty=True))


def build_rss(
    feed: FeedInfo, entries: Iterable[Entry], labels: Mapping[str, str], tz: tzinfo
) -> bytes:
    """The RSS 2.0 twin of `build_feed`'s document: the same items in the same order, each
    `guid` the Atom entry's id (isPermaLink="false"), dates in RFC 822 in `tz`.

    The channel's lastBuildDate is the Atom feed's `updated`, never the build time. RSS's
    own <author> must be an e-mail address, which no article has, so the author is a
    dc:creator. A category's text is the tag's label, what a person reads. A title is plain
    text, as in Atom; a description is HTML (RSS has no type attribute to say otherwise), so
    the plain excerpt is escaped once more: "<script>" in an article stays text.
    """
    ordered = newest_first(entries)
    newest = max((entry_updated(e) for e in ordered), default=EMPTY_FEED_UPDATED)
    rss = next(file for file in feed.files if file.format == "rss")
    fg = _start_feed(feed, newest, tz, self_url=rss.url, self_type=RSS_TYPE)
    fg.load_extension("dc", atom=False)  # for RSS only: the Atom bytes stay as they are
    for entry in ordered:
        fe = _add_entry(fg, entry, labels, feed.account, tz)
        fe.summary(html.escape(entry_summary(entry), quote=False))
        fe.dc.dc_creator(entry_author(entry, feed.account))
    data = bytes(fg.rss_str(pretty=True))
    links = [f'<atom:link href="{xml_escape(feed.hub)}" rel="hub"/>'] if feed.hub else []
    if feed.prev_archive:
        href = xml_escape(feed.prev_archive)
        links.append(f'<atom:link href="{href}" rel="prev-archive" type="{ATOM_TYPE}"/>')
    return _with_links(data, links)


def _with_links(rss: bytes, links: Sequence[str]) -> bytes:
    """The RSS document with more atom:link elements (rel="hub", rel="prev-archive") beside
    its self link: feedgen writes only the self one in RSS, whatever links the feed has."""
    if not links:
        return rss
    start = rss.index(b"<atom:link ")
    end = rss.index(b"/>", start) + 2
    return rss[:end] + "".join(f"\n    {link}" for link in links).encode() + rss[end:]


def build_issues_feed(
    feed: FeedInfo, issues: Iterable[IssueRecord], base_url: str, tz: tzinfo
) -> bytes:
    """The Atom document of sent issues, newest week first, each linking its web version.

    An issue's dates are when it was frozen: its content never changes after that, so
    neither does its entry, however often it is resent to recipients still owed it.
    """
    ordered = sorted(issues, key=lambda issue: issue.key, reverse=True)
    newest = max((issue.frozen_at for issue in ordered), default=EMPTY_FEED_UPDATED)
    fg = _start_feed(feed, newest, tz)
    for issue in ordered:
        fe = fg.add_entry(order="append")
        fe.id(ISSUE_ID_PREFIX + quote(issue.key, safe=""))
        fe.title(one_line(issue.subject) or issue.key)
        fe.updated(issue.frozen_at.astimezone(tz))
        fe.published(issue.frozen_at.astimezone(tz))
        fe.author({"name": xml_text(feed.account)})
        fe.link(href=web_version_url(base_url, issue.key), rel="alternate")
        fe.summary(f"本期共 {issue.articles + issue.late} 篇")
    return bytes(fg.atom_str(pretty=True))


def _start_feed(
    feed: FeedInfo,
    updated: datetime,
    tz: tzinfo,
    *,
    self_url: str | None = None,
    self_type: str = ATOM_TYPE,
) -> FeedGenerator:
    """A feed with its head filled in and no entries; `updated` is set so no clock is read
    (it is RSS's lastBuildDate too). Its rel="self" is the Atom document's unless given."""
    fg = FeedGenerator()
    fg.id(feed.id)
    fg.title(xml_text(feed.title))
    fg.subtitle(xml_text(feed.subtitle))
    fg.language("zh-CN")
    fg.author({"name": xml_text(feed.account)})
    fg.link(href=self_url or feed.url, rel="self", type=self_type)
    if feed.hub:
        fg.link(href=feed.hub, rel="hub")
    if feed.prev_archive:
        fg.link(href=feed.prev_archive, rel="prev-archive", type=ATOM_TYPE)
    # Last: feedgen makes the last link RSS's channel <link>, which must be the web page.
    fg.link(href=feed.html_url, rel="alternate", type="text/html")
    fg.generator("feeder", version=__version__)
    fg.updated(updated.astimezone(tz))
    return fg


def _add_entry(
    fg: FeedGenerator, entry: Entry, labels: Mapping[str, str], account: str, tz: tzinfo
) -> FeedEntry:
    article = entry.article
    fe = fg.add_entry(order="append")  # feedgen prepends by default
    fe.id(entry_id(article.id))
    fe.title(one_line(article.title) or NO_TITLE)
    fe.updated(entry_updated(entry).astimezone(tz))
    fe.published(article.published.astimezone(tz))
    fe.author({"name": entry_author(entry, account)})
    url = web_url(article.url)
    if url is not None:
        # feedgen 1.0 drops rel from entry links; a link without rel is "alternate" (RFC 4287).
        fe.link(href=url, rel="alternate")
    for tag in entry.tags:
        if tag in labels:
            fe.category(term=tag, label=xml_text(labels[tag]))
        else:
            fe.category(term=xml_text(tag))
    body = content_html(article.content)
    fe.summary(entry_summary(entry))
    if body:
        fe.content(body, type="html")
    elif url is None:  # Atom wants content where there is no link to the article
        fe.content(f"<p>{NO_TEXT}</p>", type="html")
    return fe


def entry_author(entry: Entry, account: str) -> str:
    """Who wrote the article: the author named in it, else its account, else the feed's."""
    article = entry.article
    return one_line(article.author or "") or one_line(article.account) or account


def entry_summary(entry: Entry) -> str:
    """A plain excerpt of the text. An article without text (a video, a picture post) still
    says so: validators and readers flag an entry with neither summary nor content."""
    article = entry.article
    summary = excerpt(article.content, title=article.title)
    # Only an empty excerpt needs the (slower) look at the whole text: a text that merely
    # repeats the title has a body but no excerpt.
    return summary if summary or content_html(article.content) else NO_TEXT


def entry_id(article_id: str) -> str:
    """The entry's tag: URI, from the article id alone; every unsafe character percent-encoded."""
    return ENTRY_ID_PREFIX + quote(article_id, safe="", errors="surrogatepass")


def content_html(text: str) -> str:
    """Paragraphs as <p>, line breaks as <br/>, every character of the text escaped."""
    paragraphs = (p.strip("\n") for p in re.split(r"\n{2,}", xml_text(text)))
    return "\n".join(
        "<p>" + "<br/>".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
        if p.strip()
    )


def build_opml(feeds: Sequence[FeedInfo], account: str, accounts: Sequence[FeedInfo] = ()) -> bytes:
    """OPML 2.0 listing every feed, for importing them all into a reader at once; the
    per-account feeds, if any, in a folder of their own."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{xml_escape(account)} · 订阅源</title>",
        "  </head>",
        "  <body>",
    ]
    lines += [_outline(feed, "    ") for feed in feeds]
    if accounts:
        lines.append(f'    <outline text="{ACCOUNTS_FOLDER}" title="{ACCOUNTS_FOLDER}">')
        lines += [_outline(feed, "      ") for feed in accounts]
        lines.append("    </outline>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")


def _outline(feed: FeedInfo, indent: str) -> str:
    title = xml_escape(feed.title)
    return (
        f'{indent}<outline type="rss" text="{title}" title="{title}"'
        f' xmlUrl="{xml_escape(feed.url)}" htmlUrl="{xml_escape(feed.html_url)}"/>'
    )


def entry_updated(entry: Entry) -> datetime:
    """When the entry last changed, as every format states it."""
    # An entry is never updated before it was published (a validator would flag it).
    return max(entry.updated, entry.article.published)
