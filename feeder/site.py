"""Where every output lives under the output folder, and its URL under `output.base_url`.

Derived from the taxonomy's tags, never from a list in code: a tag added to the taxonomy
gets its feed, its OPML outline and its index section without any other change.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import Tag

ALL = "all"  # the feed of every article, whatever its tags
ALL_LABEL = "全部"
OPML = "feeds.opml"
INDEX = "index.html"
NEWSLETTER = "newsletter"  # the folder of newsletter previews, web versions and archive
ARCHIVE = f"{NEWSLETTER}/index.html"  # the list of every issue that was sent
ISSUES_FEED = f"{NEWSLETTER}/issues.atom"  # the feed of those issues
SUBSCRIBE = "subscribe"  # the sign-up form, served by the web application, not a file
# Every feed is written in each of these formats, from the same entries; each is the file's
# extension. Atom comes first: it is the one the OPML list names.
FORMATS = ("atom", "rss", "json")
FEEDS_ARCHIVE = "feeds/archive"  # each feed's archive pages, in a folder named for the feed
ACCOUNT_DIR = "account"  # per-account feeds are feeds/account/<slug>.*


def feed_names(tags: Sequence[Tag], custom: Sequence[str] = ()) -> list[str]:
    """Every feed's name: "all", then each tag's id in taxonomy order, then the custom
    feeds' names in config order."""
    return [ALL, *(tag.id for tag in tags), *custom]


def feed_path(name: str, fmt: str = "atom") -> str:
    """A feed's file in one of FORMATS, relative to the output folder."""
    return f"feeds/{name}.{fmt}"


def feed_url(base_url: str, name: str, fmt: str = "atom") -> str:
    return base_url + feed_path(name, fmt)


def account_feed(slug: str) -> str:
    """An account's feed name: its files are feeds/account/<slug>.{atom,rss,json}."""
    return f"{ACCOUNT_DIR}/{slug}"


def archive_path(name: str, n: int) -> str:
    """Page `n` (1 = oldest) of a feed's archive (RFC 5005), relative to the output folder.
    Archives are Atom only."""
    return f"{FEEDS_ARCHIVE}/{name}/{n}.atom"


def archive_page_url(base_url: str, name: str, n: int) -> str:
    return base_url + archive_path(name, n)


def index_url(base_url: str, section: str | None = None) -> str:
    """The index page, at a tag's section if one is named."""
    return base_url + INDEX + ("" if section is None else f"#{section}")


def page_url(base_url: str, page: str, token: str) -> str:
    """A subscriber page that a signed token opens: `<base>confirm/<token>` and the like."""
    return f"{base_url}{page}/{token}"


def archive_url(base_url: str) -> str:
    """The archive page; named in full so that it works where no server maps a folder to it."""
    return base_url + ARCHIVE


def issues_feed_url(base_url: str) -> str:
    return base_url + ISSUES_FEED


def subscribe_url(base_url: str) -> str:
    return base_url + SUBSCRIBE


def web_version_path(key: str) -> str:
    """A sent issue's web version (and an issue's preview HTML), relative to the output folder."""
    return f"{NEWSLETTER}/{key}.html"


def web_version_url(base_url: str, key: str) -> str:
    return base_url + web_version_path(key)


def site_files(tags: Sequence[Tag], custom: Sequence[str] = ()) -> tuple[str, ...]:
    """Every file every build writes, relative to the output folder, in build order: feeds
    (each in every format), OPML, the issues feed and archive, then the index page that links
    them all.

    A sent issue's web version is written too, but only once there is one: not listed here.
    """
    feeds = (feed_path(name, fmt) for name in feed_names(tags, custom) for fmt in FORMATS)
    return (*feeds, OPML, ISSUES_FEED, ARCHIVE, INDEX)


def preview_files(key: str) -> tuple[str, str, str]:
    """One week's newsletter preview: its HTML, text and .eml, relative to the output folder."""
    return (web_version_path(key), f"{NEWSLETTER}/{key}.txt", f"{NEWSLETTER}/{key}.eml")
