"""Custom feeds, the `[[feeds]]` tables of the config: which articles each holds (pure
matching, once per article as a publish takes it in: see publish/build.py), and the checks
that need the taxonomy, which the config loader does not read.

Matching cost is bounded per article: the patterns see the title and the first
MATCH_CHARS characters of the text, never more. That bounds the time of an ordinary
pattern, but Python's `re` backtracks, so a pattern with nested repeats such as `(a+)+$`
can still take time exponential in the length of a run it nearly matches. The patterns
come from the operator's own config, not from readers; the README warns against nested
repeats and names the cure (an atomic group `(?>…)` or a possessive `a++`, Python 3.11).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..config import FeedDef
from ..errors import ConfigError
from ..model import Entry, Tag
from ..site import index_url
from ..text import one_line
from .feeds import FeedInfo, feed_info

# Characters of an article's text the include and exclude patterns see, after its title.
# Most WeChat articles are shorter, so this is their whole text; it keeps a long article
# (or a hostile one) from making every poll slow.
MATCH_CHARS = 10_000


def matches(feed: FeedDef, entry: Entry) -> bool:
    """Whether the entry belongs in the feed: any of its tags (if it names some), and the
    include pattern found (if any), and the exclude pattern not found (if any)."""
    if feed.tags and not set(feed.tags) & set(entry.tags):
        return False
    if feed.include is None and feed.exclude is None:
        return True
    text = f"{entry.article.title}\n{entry.article.content[:MATCH_CHARS]}"
    if feed.include is not None and feed.include.search(text) is None:
        return False
    return feed.exclude is None or feed.exclude.search(text) is None


def check_custom_feeds(feeds: Sequence[FeedDef], tags: Sequence[Tag]) -> None:
    """Refuse, naming the key, a custom feed whose tags are not in the taxonomy or whose
    name is a tag's (both would write feeds/<name>.atom)."""
    known = {tag.id for tag in tags}
    for i, feed in enumerate(feeds):
        if feed.name in known:
            raise ConfigError(
                f"feeds[{i}].name: {feed.name!r} is a tag's id, and the tag has a feed of that "
                "name already; choose another name"
            )
        unknown = [tag for tag in feed.tags if tag not in known]
        if unknown:
            raise ConfigError(
                f"feeds[{i}].tags: unknown tag {unknown[0]!r} "
                f"(the taxonomy's tags: {', '.join(sorted(known)) or 'none'})"
            )


def custom_feed_infos(feeds: Sequence[FeedDef], account: str, base_url: str) -> list[FeedInfo]:
    """The custom feeds' names, words and addresses, in config order.

    Their page is the index page's top, where every feed is listed: unlike a tag, a custom
    feed has no section of its own there.
    """
    infos = []
    for feed in feeds:
        label = one_line(feed.title)
        info = feed_info(feed.name, label, _subtitle(feed, account), account, base_url)
        infos.append(replace(info, html_url=index_url(base_url)))
    return infos


def _subtitle(feed: FeedDef, account: str) -> str:
    # Not the patterns themselves: readers see this line, and a regex means little to them.
    return f"{account}公众号文章中按“{one_line(feed.title)}”筛选的一组"
