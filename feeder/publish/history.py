"""Archived feeds (RFC 5005 §4): the pure decisions and the bytes.

Every feed's members are numbered in the order they joined it (their seq). The
subscription document holds the newest `max_entries` members; the older ones are cut into
archive pages of `archive_size` seqs each, page 1 the oldest: page n holds seq
(n-1)·size+1 to n·size, and the newest page ends where the subscription document starts.
Since a page is a fixed range of arrivals, a new article touches only the newest page, and
a page is complete, never to change again, once the page after it exists; unless one of
its articles is edited or leaves the feed, which rewrites that page alone.

Archive pages are Atom only and their entries carry the excerpt as summary, not the full
text: a reader paging back wants to find articles, and a page written once must be cheap.
The page is written by hand, like the JSON Feed, so that thousands of pages cost little.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cache
from html import escape

from ..config import FeedDef
from ..model import Entry
from ..site import ALL, archive_page_url
from ..text import one_line, web_url, xml_escape
from .custom import matches
from .feeds import (
    ATOM_TYPE,
    EMPTY_FEED_UPDATED,
    FALLBACK_ACCOUNT,
    NO_TITLE,
    FeedInfo,
    entry_author,
    entry_id,
    entry_summary,
    entry_updated,
)

HISTORY_NS = "http://purl.org/syndication/history/1.0"


# -- Which feeds an article belongs to ------------------------------------------------------


def wanted_feeds(
    entry: Entry, tags: Set[str], custom: Sequence[FeedDef], account: str | None
) -> set[str]:
    """The feeds the entry belongs in: everything, each of its tags the taxonomy knows, each
    custom feed it matches, and its account's feed (`account`, None for none)."""
    feeds = {ALL, *(tag for tag in entry.tags if tag in tags)}
    feeds.update(feed.name for feed in custom if matches(feed, entry))
    if account is not None:
        feeds.add(account)
    return feeds


@dataclass(frozen=True, slots=True)
class Moves:
    """What one written article does to the feeds, against where it was."""

    join: tuple[str, ...]  # feeds it enters: it is appended to each, after their newest
    leave: tuple[tuple[str, int], ...]  # (feed, seq) it leaves: that page is written again
    stay: tuple[tuple[str, int], ...]  # (feed, seq) it stays at: its entry may have changed


def moves(current: Mapping[str, int], wanted: Set[str]) -> Moves:
    return Moves(
        join=tuple(sorted(wanted - current.keys())),
        leave=tuple(sorted((f, s) for f, s in current.items() if f not in wanted)),
        stay=tuple(sorted((f, s) for f, s in current.items() if f in wanted)),
    )


def page_of(seq: int, size: int) -> int:
    """The archive page that holds seq, if it is archived at all."""
    return (seq - 1) // size + 1


# -- Which pages to write -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PagePlan:
    """One feed's archive pages: which to write, each one's shape, and which to delete."""

    count: int  # pages the archive has: 0 when the subscription document holds everything
    write: tuple[int, ...]  # pages to write (again), oldest first
    shapes: dict[int, str]  # every page's shape, as the state records it once written
    drop: tuple[int, ...]  # pages written before that no longer exist
    end: int  # the newest archived seq
    size: int  # seqs per page

    def seqs(self, n: int) -> tuple[int, int]:
        """The first and last seq page `n` covers (a seq that left the feed is a gap)."""
        return (n - 1) * self.size + 1, min(n * self.size, self.end)


def plan_pages(
    end: int, size: int, head: str, written: Mapping[int, str], missing: Set[int] = frozenset()
) -> PagePlan:
    """Pages for archived seqs 1..`end`: a page is written when it is new, when what it
    holds or links to differs from what it was written for (its shape: the size, its last
    seq, whether a page follows, the feed's `head`), or when its file is `missing`.

    A page whose article changed is not in `written` any more: the state forgot it then.
    """
    count = (end + size - 1) // size
    shapes = {n: _shape(n, count, end, size, head) for n in range(1, count + 1)}
    write = tuple(n for n, shape in shapes.items() if written.get(n) != shape or n in missing)
    drop = tuple(sorted(n for n in written if n > count))
    return PagePlan(count, write, shapes, drop, end, size)


def _shape(n: int, count: int, end: int, size: int, head: str) -> str:
    last_seq = min(n * size, end)
    return f"{size}:{last_seq}:{'next' if n < count else 'newest'}:{head}"


def feed_head(feed: FeedInfo, labels: Mapping[str, str], tz: tzinfo) -> str:
    """A short digest of everything about a feed that its archive pages show besides their
    entries: when it changes (a new base_url, a renamed tag), every page is written again."""
    # Not the feed's title, subtitle or author: those name the newest article's account,
    # which in a corpus of several accounts changes from poll to poll.
    words = [feed.id, feed.label, feed.url, feed.html_url]
    words += [f"{tag}={label}" for tag, label in sorted(labels.items())]
    words.append(str(tz))
    data = json.dumps(words, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:16]


# -- The bytes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One entry as archive pages write it, built once per article and publish."""

    xml: str  # the <entry> element, indented
    updated: datetime  # when it last changed: the page's <updated> is its newest entry's


def archive_entry(entry: Entry, labels: Mapping[str, str], tz: tzinfo) -> ArchiveEntry:
    """The entry as the feeds write it, with the excerpt as summary and no content.

    It reads the same in every feed it is in, so the caller may build it once per article.
    An article naming neither author nor account is credited to "feeder", not to the
    site's account as in the subscription documents: that is the newest article's, and a
    page must not change with it.
    """
    return ArchiveEntry(_entry_xml(entry, labels, FALLBACK_ACCOUNT, tz), entry_updated(entry))


def build_archive_page(
    feed: FeedInfo,
    n: int,
    count: int,
    entries: Sequence[ArchiveEntry],
    tz: tzinfo,
    base_url: str,
) -> bytes:
    """Archive page `n` of `count`: `entries` in seq order, written newest first."""
    newest = max((e.updated for e in entries), default=EMPTY_FEED_UPDATED)
    links = [
        (archive_page_url(base_url, feed.name, n), "self", ATOM_TYPE),
        (feed.url, "current", ATOM_TYPE),
    ]
    if n > 1:
        links.append((archive_page_url(base_url, feed.name, n - 1), "prev-archive", ATOM_TYPE))
    if n < count:
        links.append((archive_page_url(base_url, feed.name, n + 1), "next-archive", ATOM_TYPE))
    links.append((feed.html_url, "alternate", "text/html"))
    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:fh="{HISTORY_NS}" xml:lang="zh-CN">',
        f"  <id>{xml_escape(feed.id)}</id>",
        f"  <title>{xml_escape(feed.label)} · 存档 {n}</title>",
        f"  <updated>{newest.astimezone(tz).isoformat()}</updated>",
        # Every entry names its author; an empty page (its articles all left) needs one here.
        *([] if entries else [f"  <author><name>{FALLBACK_ACCOUNT}</name></author>"]),
        *(
            f'  <link href="{xml_escape(href)}" rel="{rel}" type="{kind}"/>'
            for href, rel, kind in links
        ),
        "  <fh:archive/>",
        *(entry.xml for entry in reversed(entries)),
        "</feed>",
        "",
    ]
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def _entry_xml(entry: Entry, labels: Mapping[str, str], account: str, tz: tzinfo) -> str:
    """One Atom entry as the feeds write it, with the excerpt as its summary and no content.

    Text that went through one_line, excerpt or web_url is XML-safe already: it is only
    escaped (html.escape), not cleaned again, which at 100,000 entries is seconds.
    """
    article = entry.article
    url = web_url(article.url)
    parts = [
        "  <entry>",
        f"    <id>{entry_id(article.id)}</id>",  # percent-encoded: nothing to escape
        f"    <title>{escape(one_line(article.title) or NO_TITLE)}</title>",
        f"    <updated>{entry_updated(entry).astimezone(tz).isoformat()}</updated>",
        f"    <author><name>{escape(entry_author(entry, account))}</name></author>",
    ]
    if url is not None:
        parts.append(f'    <link href="{escape(url)}" rel="alternate"/>')
    parts += [_category(tag, labels.get(tag)) for tag in entry.tags]
    parts.append(f"    <published>{article.published.astimezone(tz).isoformat()}</published>")
    summary = escape(entry_summary(entry))
    parts.append(f'    <summary type="text">{summary}</summary>')
    if url is None:  # Atom wants content where there is no link to the article
        parts.append(f'    <content type="text">{summary}</content>')
    parts.append("  </entry>")
    return "\n".join(parts)


@cache
def _category(tag: str, label: str | None) -> str:
    # A handful of tags over 100,000 entries: each line is escaped once.
    if label is None:
        return f'    <category term="{xml_escape(tag)}"/>'
    return f'    <category term="{xml_escape(tag)}" label="{xml_escape(label)}"/>'
