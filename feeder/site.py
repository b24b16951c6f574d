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
NEWSLETTER = "newsletter"  # the folder of newsletter previews


def feed_names(tags: Sequence[Tag]) -> list[str]:
    """Every feed's name: "all", then each tag's id in taxonomy order."""
    return [ALL, *(tag.id for tag in tags)]


def feed_path(name: str) -> str:
    """A feed's file, relative to the output folder."""
    return f"feeds/{name}.atom"


def feed_url(base_url: str, name: str) -> str:
    return base_url + feed_path(name)


def index_url(base_url: str, section: str | None = None) -> str:
    """The index page, at a tag's section if one is named."""
    return base_url + INDEX + ("" if section is None else f"#{section}")


def site_files(tags: Sequence[Tag]) -> tuple[str, ...]:
    """Every file a build writes, relative to the output folder: feeds, then OPML and index."""
    return (*(feed_path(name) for name in feed_names(tags)), OPML, INDEX)


def preview_files(key: str) -> tuple[str, str, str]:
    """One week's newsletter preview: its HTML, text and .eml, relative to the output folder."""
    return (f"{NEWSLETTER}/{key}.html", f"{NEWSLETTER}/{key}.txt", f"{NEWSLETTER}/{key}.eml")
