"""Per-account feeds: each 公众号's slug (pure), chosen once and then kept by the state, and
the feeds' names and words. A corpus of one account gets no account feeds: its "all" feed is
that account's already.

A slug is a stable ASCII file name: from the `__biz` parameter of the account's article URLs
(WeChat's id for the account, in every article link) when it is short, else a short hash of
the account name. A slug comes from corpus data, so it is bounded: a 252-character `__biz`
once made a file name the file system refused, and with it every poll.
Not a transliteration: pypinyin, the library for it, takes 0.2 s to import, which every
command would pay at start-up for a fallback that WeChat links almost never need.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping, Set
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

from ..site import account_feed, index_url
from ..text import one_line
from .feeds import FeedInfo, feed_info

ACCOUNTS_SECTION = "accounts"  # the index page's anchor for the account feeds
_BIZ = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
# WeChat's own are 16 characters of base64 (10 digits decoded); anything longer is a hash.
MAX_BIZ_SLUG = 40


def choose_slug(name: str, urls: Iterable[str | None], taken: Set[str]) -> str:
    """A slug for account `name` that is not in `taken` (compared case-insensitively, for
    file systems that ignore case), from the first URL with a `__biz`, else a hash of the
    name; a clash gets "-2", "-3"…"""
    base = next((slug for url in urls if (slug := biz_slug(url))), "")
    base = base or "a-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    lowered = {slug.lower() for slug in taken}
    slug, k = base, 1
    while slug.lower() in lowered:
        k += 1
        slug = f"{base}-{k}"
    return slug


def biz_slug(url: str | None) -> str:
    """The `__biz` parameter of a WeChat article URL made safe for a file name: decoded
    when it is base64 of a plain number (as WeChat's are), else its URL-safe base64 form
    without padding; "" when there is none or it is longer than MAX_BIZ_SLUG."""
    if not url:
        return ""
    values = parse_qs(urlsplit(url).query).get("__biz", [])
    value = values[0].strip() if values else ""
    if len(value) > MAX_BIZ_SLUG or not _BIZ.fullmatch(value):
        return ""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_")
    except (binascii.Error, ValueError):
        decoded = b""
    if decoded.isdigit() and decoded.isascii():
        return decoded.decode("ascii")
    return value.replace("+", "-").replace("/", "_").rstrip("=")


def account_feed_infos(slugs: Mapping[str, str], base_url: str) -> list[FeedInfo]:
    """Each account's feed, in slug order (`slugs` by account name): none unless there are
    several accounts."""
    if len(slugs) < 2:
        return []
    infos = []
    for name, slug in sorted(slugs.items(), key=lambda item: item[1].lower()):
        label = one_line(name)
        # The account is the feed's author too: its entries are all that account's.
        info = feed_info(account_feed(slug), label, f"{label}公众号的全部文章", label, base_url)
        infos.append(replace(info, html_url=index_url(base_url, ACCOUNTS_SECTION)))
    return infos
