"""Every feed in three formats from the same entries: Atom and RSS 2.0 (built in `feeds.py`
through feedgen) and JSON Feed 1.1 (built here: it is plain JSON, no library needed).

All three list the same entries in the same order under the same ids, and like the Atom
document the others carry no build time, so an unchanged feed keeps its bytes in every format.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import tzinfo
from typing import Any

from ..model import Entry
from ..text import newest_first, one_line, web_url, xml_text
from .feeds import (
    NO_TEXT,
    NO_TITLE,
    FeedInfo,
    build_feed,
    build_rss,
    content_html,
    entry_author,
    entry_id,
    entry_summary,
    entry_updated,
)

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

Builder = Callable[[FeedInfo, Iterable[Entry], Mapping[str, str], tzinfo], bytes]


def build_formats(
    feed: FeedInfo, entries: Iterable[Entry], labels: Mapping[str, str], tz: tzinfo
) -> dict[str, bytes]:
    """The feed's document in each of its formats, by path relative to the output folder."""
    ordered = newest_first(entries)
    return {file.path: BUILDERS[file.format](feed, ordered, labels, tz) for file in feed.files}


def build_json_feed(
    feed: FeedInfo, entries: Iterable[Entry], labels: Mapping[str, str], tz: tzinfo
) -> bytes:
    """One JSON Feed 1.1 document: the Atom document's entries as items, newest first.

    Keys keep the order written here (the spec's), text is UTF-8 rather than \\u escapes, and
    the file ends with one newline: the same entries always give the same bytes. Every string
    goes through `xml_text`, as in the XML formats, so that all three say the same (and a lone
    surrogate, which UTF-8 cannot encode, never stops the build).
    """
    url = next(file.url for file in feed.files if file.format == "json")
    document = {
        "version": JSON_FEED_VERSION,
        "title": xml_text(feed.title),
        "home_page_url": feed.html_url,
        "feed_url": url,
        "description": xml_text(feed.subtitle),
        "language": "zh-CN",
        "authors": [{"name": xml_text(feed.account)}],
        **({"hubs": [{"type": "WebSub", "url": feed.hub}]} if feed.hub else {}),
        "items": [_item(entry, labels, feed.account, tz) for entry in newest_first(entries)],
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _item(entry: Entry, labels: Mapping[str, str], account: str, tz: tzinfo) -> dict[str, Any]:
    article = entry.article
    item: dict[str, Any] = {"id": entry_id(article.id)}
    url = web_url(article.url)
    if url is not None:  # only http and https links, as in the Atom entry
        item["url"] = url
    item["title"] = one_line(article.title) or NO_TITLE
    # JSON Feed wants content_html or content_text in every item.
    item["content_html"] = content_html(article.content) or f"<p>{NO_TEXT}</p>"
    item["summary"] = entry_summary(entry)
    item["date_published"] = article.published.astimezone(tz).isoformat()
    item["date_modified"] = entry_updated(entry).astimezone(tz).isoformat()
    item["tags"] = [xml_text(labels.get(tag, tag)) for tag in entry.tags]
    item["authors"] = [{"name": entry_author(entry, account)}]
    return item


BUILDERS: dict[str, Builder] = {"atom": build_feed, "rss": build_rss, "json": build_json_feed}
