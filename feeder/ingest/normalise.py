"""Normalising one corpus record into an Article: field names, text, URL, date, credits.

Pure functions of the record; a BadRecord names the field that is wrong.
"""

from __future__ import annotations

import functools
import html
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..model import Article
from ..schedule import ARTICLE_YEARS
from ..text import NOT_XML, one_line, shorten, web_url

# The seed corpus's field names.
ID, TITLE, URL, TIME, ACCOUNT, CONTENT = (
    "文章标识符aid",
    "标题title",
    "链接url",
    "时间time",
    "公众号名称",
    "finalContent",
)

FIELDS = (ID, TITLE, URL, TIME, ACCOUNT, CONTENT)


class BadRecord(ValueError):
    """A record's field is missing or invalid; the message names the field."""


def normalise(
    raw: dict[str, Any], ident: str, tz: ZoneInfo, years: tuple[int, int] = ARTICLE_YEARS
) -> Article:
    """Build an Article from one record of the seed schema; BadRecord names the bad field."""
    title = clean_line(_text_field(raw, TITLE, required=True))
    if not title:
        raise BadRecord(f"empty title ({TITLE})")
    content = clean_text(_text_field(raw, CONTENT))
    credits = find_credits(content)
    return Article(
        id=ident,
        title=title,
        url=clean_url(_text_field(raw, URL)),
        published=parse_time(_text_field(raw, TIME, required=True), tz, years),
        account=clean_line(_text_field(raw, ACCOUNT)),
        content=content,
        source=credits.get("来源"),
        author=credits.get("作者"),
        editor=credits.get("编辑"),
    )


def _text_field(raw: dict[str, Any], key: str, required: bool = False) -> str:
    value = raw.get(key)
    if value is None:
        if required:
            raise BadRecord(f"no {key}")
        return ""
    if not isinstance(value, str):
        raise BadRecord(f"{key} must be a string, not {kind_of(value)}")
    return value


def kind_of(value: Any) -> str:
    """What a JSON value is, in words: "an object", "a list", "null", …"""
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), "a number")


# -- Normalising text -----------------------------------------------------------------

_FOOTER_START = "↓分享"
_FOOTER_REST = re.compile(r"(?:\s*↓\s*\S{1,4})*\s*")
_CREDIT = re.compile(r"(来源|作者|编辑)[：:]\s*(.+?)\s*(?=(?:来源|作者|编辑)[：:]|$)")
_CREDIT_LINES = 12  # credits stand at the end, above the footer


def clean_text(text: str) -> str:
    """Plain text with "\n" line breaks and "\n\n" between paragraphs, safe for XML."""
    text = html.unescape(text)
    # One pass: splitlines() takes \r\n, \r and \n (and the rarer Unicode line breaks)
    # alike, and rstrip() also removes full-width and no-break spaces, so blank lines
    # become empty.
    text = "\n".join(map(str.rstrip, text.splitlines()))  # map: no generator frames
    text = NOT_XML.sub("", text)
    footer = text.rfind(_FOOTER_START)
    if footer >= 0 and _FOOTER_REST.fullmatch(text, footer + len(_FOOTER_START)):
        text = text[:footer].rstrip()
    text = text.replace("\xa0", " ")
    while "\n\n\n" in text:  # str.replace is several times faster than a regex here
        text = text.replace("\n\n\n", "\n\n")
    return text.strip("\n")


def clean_line(text: str) -> str:
    """One line of plain text: entities decoded once, white space folded."""
    return one_line(html.unescape(text))


def clean_url(url: str) -> str | None:
    """The URL, entities decoded, if it is http or https with a host; else None.

    Checked after decoding, so an encoded line break cannot slip through.
    """
    return web_url(html.unescape(url))


def find_credits(content: str) -> dict[str, str]:
    """来源 (source), 作者 (author), 编辑 (editor) named in the closing lines."""
    found: dict[str, str] = {}
    for line in content.rsplit("\n", _CREDIT_LINES)[-_CREDIT_LINES:]:
        stripped = line.strip()
        if not stripped.startswith(("来源", "作者", "编辑")):
            continue
        for label, value in _CREDIT.findall(stripped):
            value = value.strip()
            if value and len(value) <= 80:
                found[label] = value
    return found


_DATE = re.compile(r"(\d{4})[/\-.](\d{1,2})[/\-.](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


@functools.lru_cache(maxsize=4096)  # a corpus has far fewer distinct dates than articles
def parse_time(text: str, tz: ZoneInfo, years: tuple[int, int] = ARTICLE_YEARS) -> datetime:
    """`2026/2/5` is that day at 00:00 in `tz`; ISO 8601 with an offset keeps its instant.

    BadRecord if the text is no date, or its year in `tz` is outside `years` (inclusive).
    """
    text = text.strip()
    shown = f"{TIME}={shorten(text, 40)!r}"
    first, last = years
    # A year's margin either way until the date is in `tz`: enough for any offset, and
    # it keeps the conversion clear of Python's limits (years 1 and 9999), where it
    # would overflow.
    low, high = first - 1, last + 1
    match = _DATE.fullmatch(text)
    parsed: datetime | None = None
    try:
        if match:
            year, month, day, hour, minute, second = (int(p) if p else 0 for p in match.groups())
            if low <= year <= high:
                parsed = datetime(year, month, day, hour, minute, second)
        else:
            parsed = datetime.fromisoformat(text)
            year = parsed.year
    except ValueError:
        raise BadRecord(f"unreadable date {shown} (expected e.g. 2026/2/5)") from None
    if parsed is not None and low <= year <= high:
        moment = parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed.astimezone(tz)
        if first <= moment.year <= last:
            return moment
        year = moment.year
    raise BadRecord(f"{shown}: year {year} is outside {first}–{last}")
