"""The index page a person lands on: how to subscribe to the feeds and the newsletter, where
its past issues are, and the newest articles per category, rendered from the `index.html.j2`
template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo

from ..model import Entry, Tag
from ..site import OPML, archive_url, subscribe_url
from ..templating import Templates
from ..text import one_line, shorten, web_url
from .accounts import ACCOUNTS_SECTION
from .feeds import ATOM_TYPE, NO_TITLE, FeedInfo

INDEX_LATEST = 5  # articles listed per category on the index page
FORMAT_NAMES = {"atom": "Atom", "rss": "RSS", "json": "JSON Feed"}  # as the page names them
TEMPLATE = "index.html.j2"


@dataclass(frozen=True, slots=True)
class Listed:
    """One article as the index page lists it."""

    title: str  # one line, never empty
    url: str | None  # the original article, if it is a web link
    day: str  # the publication date, YYYY-MM-DD in the configured zone


@dataclass(frozen=True, slots=True)
class IndexSection:
    """One tag's section of the page."""

    id: str  # the tag id: the section's anchor
    label: str  # the heading
    feed_url: str  # the tag's feed
    articles: tuple[Listed, ...]  # its newest articles, newest first


def build_index(
    templates: Templates,
    feeds: Sequence[FeedInfo],
    tags: Sequence[Tag],
    latest: Mapping[str, Sequence[Entry]],
    account: str,
    newsletter: str,
    base_url: str,
    tz: tzinfo,
    accounts: Sequence[FeedInfo] = (),
) -> bytes:
    """The page, as UTF-8 bytes: every feed with its address, the newsletter's sign-up form
    and archive (`newsletter` is its title), then each tag's newest articles, then the
    per-account feeds (`accounts`) if there are any."""
    urls = {feed.name: feed.url for feed in feeds}
    sections = [
        IndexSection(
            id=tag.id,
            label=one_line(tag.label),
            feed_url=urls[tag.id],
            articles=tuple(_listed(entry, tz) for entry in latest.get(tag.id, ())),
        )
        for tag in tags
    ]
    context = {
        "title": f"{one_line(account)} · 订阅源",
        "feed_type": ATOM_TYPE,  # templates from before every feed had several formats
        "format_names": FORMAT_NAMES,
        "feeds": feeds,
        "opml_url": base_url + OPML,
        "newsletter": newsletter,
        "subscribe_url": subscribe_url(base_url),
        "archive_url": archive_url(base_url),
        "sections": sections,
        "accounts": accounts,
        "accounts_id": ACCOUNTS_SECTION,
    }
    return templates.render(TEMPLATE, context, what="index page").encode("utf-8")


def _listed(entry: Entry, tz: tzinfo) -> Listed:
    article = entry.article
    return Listed(
        title=shorten(article.title) or NO_TITLE,
        url=web_url(article.url),
        day=article.published.astimezone(tz).date().isoformat(),
    )
