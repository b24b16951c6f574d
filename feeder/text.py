"""The one set of text helpers every layer shares: XML-safe text, one-line text, web URLs,
excerpts, and the newest-first order of entries. Pure functions."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

from .model import Entry

EXCERPT_CHARS = 120
TITLE_CHARS = 200  # a title longer than this is cut where it is shown (mail, index page)
URL_CHARS = 2048  # a longer "URL" is no link: browsers and mail clients choke on them

# What XML 1.0 cannot carry (C0 controls but tab, newline and CR, lone surrogates,
# U+FFFE/F), plus DEL and the C1 controls, which no article means to contain.
NOT_XML = re.compile("[^\t\n\r\u0020-\u007e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# A tag id names files (feeds/<id>.atom) and anchors: a plain lower-case name.
TAG_ID = re.compile(r"[a-z][a-z0-9_-]*")

_SENTENCE_END = "。！？；!?;"
# Han characters and CJK punctuation: a line break next to them joins without a space.
_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_BRACKETED = re.compile(r"^\s*【[^】]*】")
_BREAK_BY_CJK = re.compile(f"(?<=[{_CJK}])\\s*\n\\s*|\\s*\n\\s*(?=[{_CJK}])")
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"
_SPACE = re.compile(r"\s")  # for a str pattern, what str.isspace() calls white space
# An http(s) URL of a plain host name and only characters quote() leaves alone (letters,
# digits, "-._~" and _URL_SAFE): almost every corpus link, taken without urlsplit() and
# quote(), which took most of a record's URL time.
_PLAIN_WEB_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]*)?(?:[/?#][A-Za-z0-9" + re.escape(_URL_SAFE) + "]*)?",
    re.ASCII | re.IGNORECASE,  # ASCII: no Kelvin sign for a "k", no long s for an "s"
)
# What must not reach a log line or a terminal as is: control characters (an escape sequence
# can rewrite the operator's screen), and the invisible format characters that reorder or
# hide text (bidirectional overrides, zero-width characters).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def xml_text(text: str) -> str:
    """Only what XML can carry; CR and CRLF become a line break."""
    return NOT_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def one_line(text: str) -> str:
    """XML-safe text on one line, runs of white space folded to one space."""
    return " ".join(xml_text(text).split())


def xml_escape(text: str) -> str:
    """XML-safe text escaped for XML or HTML text and quoted attributes."""
    return html.escape(xml_text(text), quote=True)


def web_url(url: str | None) -> str | None:
    """`url` if it is an absolute http or https link, with every character that may not
    stand in a URI percent-encoded; None for anything else.

    A URL holding white space or a control character is refused, not repaired: it is
    checked as it will be shown, so decode entities before calling this.
    """
    if not url:
        return None
    url = url.strip()
    if len(url) > URL_CHARS or NOT_XML.search(url) or _SPACE.search(url):
        return None
    if _PLAIN_WEB_URL.fullmatch(url):
        return url  # what the checks below would pass, and quote() leave, as it is
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[": an unclosed IPv6 host
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(url, safe=_URL_SAFE, errors="surrogatepass")


def shorten(text: str, limit: int = TITLE_CHARS) -> str:
    """`text` on one line, cut to at most `limit` characters with "…" where it was cut."""
    line = one_line(text)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def printable(text: str) -> str:
    """`text` with every control or invisible format character shown as an escape (\\x1b,
    \\u202e), for a log line or a terminal: what an article holds cannot forge a line."""
    return _UNPRINTABLE.sub(lambda m: ascii(m[0])[1:-1], text)


def excerpt(content: str, limit: int = EXCERPT_CHARS, title: str = "") -> str:
    """The start of the text on one line, ending at a sentence end near `limit` if there is
    one, else cut at `limit` with "…".

    A text that opens by repeating `title` (common for notices) starts after it. Line
    breaks next to Chinese characters join without a space.
    """
    heading = _joined(_BRACKETED.sub("", title))  # "【通知】…": the text lacks the tag
    # Join a growing prefix, not the whole text: joining a prefix gives a prefix of the
    # joined whole (only whitespace at its end can differ), so once it reaches past the
    # heading and the limit the excerpt is settled. A long article costs what a short one does.
    size = len(heading) + limit + 64
    while True:
        joined = _joined(content[:size])
        text = joined
        if heading and text.startswith(heading):
            text = text[len(heading) :].lstrip(" ：:，,")
        if size >= len(content) or (len(joined) > len(heading) and len(text) > limit):
            break
        size *= 4
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(mark) for mark in _SENTENCE_END)
    if end >= limit * 2 // 3:
        return cut[: end + 1]
    return cut.rstrip() + "…"


def _joined(text: str) -> str:
    return " ".join(_BREAK_BY_CJK.sub("", xml_text(text)).split())


def newest_first(entries: Iterable[Entry]) -> list[Entry]:
    """Newest published first, ties by id descending (as the state orders them): a total order."""
    return sorted(entries, key=lambda e: (e.article.published, e.article.id), reverse=True)


def split_words(text: str) -> list[str]:
    """Ids written in one field: "policy,research", "policy; research", "policy research"."""
    return [part for part in re.split(r"[\s,;]+", text) if part]
