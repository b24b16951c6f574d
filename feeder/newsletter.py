"""The weekly newsletter: ISO-week math, which articles an issue holds, and rendering it.

An issue is one ISO week in the configured zone, keyed like "2026-W05". The week math and
the selection are pure functions of their arguments; rendering reads the operator's Jinja2
templates (the only module that imports Jinja2) and inlines their CSS for mail clients.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import css_inline
import jinja2

from .config import Config
from .errors import OutputError
from .model import Entry, Tag

HTML_LIMIT = 100_000  # bytes of HTML; Gmail clips a message whose HTML passes ~102 KB
EXCERPT_CHARS = 120
OTHER = Tag("other", "其他", "articles the categoriser gave no tag")
LATE = Tag("late", "往期补遗", "earlier weeks' articles that arrived after their issue went out")

_WEEK_KEY = re.compile(r"(\d{4})-W(\d{2})\Z")
_SENTENCE_END = "。！？；!?;"
# Han characters and CJK punctuation: a line break next to them joins without a space.
_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_BRACKETED = re.compile(r"^\s*【[^】]*】")
_SPACE_BY_CJK = re.compile(f"(?<=[{_CJK}])\\s+|\\s+(?=[{_CJK}])")

# -- Weeks ---------------------------------------------------------------------------------


def parse_week_key(key: str) -> tuple[int, int]:
    """(ISO year, ISO week) of a key like "2026-W05"; ValueError saying why not."""
    match = _WEEK_KEY.match(key)
    if match is None:
        raise ValueError(f"{key!r} is not an ISO week like 2026-W05")
    year, week = int(match[1]), int(match[2])
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"{key!r}: ISO year {year} has no week {week}") from None
    return year, week


def week_key(moment: datetime, tz: ZoneInfo) -> str:
    """The key of the week, in zone `tz`, that `moment` falls in."""
    year, week, _ = moment.astimezone(tz).isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(key: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end): Monday 00:00 of the week and of the next one, in zone `tz`."""
    year, week = parse_week_key(key)
    monday = date.fromisocalendar(year, week, 1)
    return (
        datetime.combine(monday, time(), tz),
        datetime.combine(monday + timedelta(days=7), time(), tz),
    )


def shift_week(key: str, weeks: int) -> str:
    """The key `weeks` weeks after (or, negative, before) `key`."""
    year, week = parse_week_key(key)
    monday = date.fromisocalendar(year, week, 1) + timedelta(weeks=weeks)
    iso = monday.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def last_full_week(now: datetime, tz: ZoneInfo) -> str:
    """The newest week that has ended by `now`: the one before the week `now` is in."""
    return shift_week(week_key(now, tz), -1)


# -- Which articles an issue holds ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Issue:
    """One week's newsletter content, decided before rendering."""

    key: str  # ISO week, "2026-W05"
    start: datetime  # Monday 00:00 in the configured zone
    end: datetime  # the next Monday 00:00: the week is [start, end)
    entries: tuple[Entry, ...]  # articles published this week, newest first
    late: tuple[Entry, ...] = ()  # earlier weeks' articles that missed their own issue

    @property
    def empty(self) -> bool:
        return not self.entries and not self.late


def select_issue(
    key: str,
    tz: ZoneInfo,
    candidates: Iterable[Entry],
    *,
    frozen: Collection[str],
    issued: Collection[str],
) -> Issue:
    """What week `key`'s issue would hold if it were frozen now.

    `candidates` are entries published up to the end of the week; `frozen` the weeks whose
    issue is already fixed (sent, being sent or skipped); `issued` the ids some issue already
    carries. The issue takes each of the week's articles no issue carries yet, and each
    earlier article whose own week's issue was fixed before it arrived. An article of a week
    that has no issue of its own waits for that issue: weeks before the first issue ever sent
    are not back-filled, and an article never goes into two issues.
    """
    start, end = week_bounds(key, tz)
    own: list[Entry] = []
    late: list[Entry] = []
    for entry in candidates:
        if entry.article.id in issued or entry.article.published >= end:
            continue
        if entry.article.published >= start:
            own.append(entry)
        elif week_key(entry.article.published, tz) in frozen:
            late.append(entry)
    return Issue(key, start, end, tuple(_newest_first(own)), tuple(_newest_first(late)))


def _newest_first(entries: Iterable[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: (e.article.published, e.article.id), reverse=True)


# -- What the templates see ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    """One article as the newsletter shows it."""

    id: str  # the corpus id
    title: str
    url: str | None  # the original article, only if http or https
    date: str  # "1月29日" (with the year when it differs from the issue's)
    account: str  # the official account, may be empty
    excerpt: str  # about EXCERPT_CHARS characters of the text
    labels: tuple[str, ...]  # the labels of its tags other than the section's


@dataclass(frozen=True, slots=True)
class Section:
    """One heading of the newsletter and the articles under it."""

    id: str  # a tag id, "other" or "late"
    label: str  # the heading: 政策, 科研, 产业, 其他, 往期补遗
    items: tuple[Item, ...]  # the articles shown
    total: int  # articles in the section, shown or not
    feed_url: str  # where the ones not shown can be read

    @property
    def more(self) -> int:
        return self.total - len(self.items)


@dataclass(frozen=True, slots=True)
class Links:
    """Where the footer points."""

    feeds: tuple[tuple[str, str], ...]  # (label, url) for each tag's feed
    all_feed: str
    index: str
    unsubscribe: str
    sender_name: str
    sender_address: str


@dataclass(frozen=True, slots=True)
class Rendered:
    """An issue as mailed: the same for every recipient."""

    subject: str
    html: str  # CSS inlined; at most HTML_LIMIT bytes as UTF-8
    text: str


def excerpt(content: str, limit: int = EXCERPT_CHARS, title: str = "") -> str:
    """The start of the text on one line, ending at a sentence end near `limit` if there is one.

    A text that opens by repeating `title` (common for notices) starts after it.
    """
    text = _one_line(content)
    heading = _one_line(_BRACKETED.sub("", title))  # "【通知】…": the text lacks the tag
    if heading and text.startswith(heading):
        text = text[len(heading) :].lstrip(" ：:，,")
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(mark) for mark in _SENTENCE_END)
    if end >= limit * 2 // 3:
        return cut[: end + 1]
    return cut.rstrip() + "…"


def _one_line(text: str) -> str:
    return " ".join(_SPACE_BY_CJK.sub("", text).split())


def safe_url(url: str | None) -> str | None:
    """`url` if it is an absolute http or https link, else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[": an unclosed IPv6 host
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def subject_line(title: str, key: str, tz: ZoneInfo) -> str:
    """ "上海科技周报 · 2026年第5周（1月26日–2月1日）"."""
    year, week = parse_week_key(key)
    return f"{title} · {year}年第{week}周（{period(key, tz)}）"


def period(key: str, tz: ZoneInfo) -> str:
    """Monday to Sunday of the week: "1月26日–2月1日" (the year on both if it turns)."""
    start, end = week_bounds(key, tz)
    sunday = (end - timedelta(days=1)).date()
    if start.year != sunday.year:
        return f"{start.year}年{_day(start.date())}–{sunday.year}年{_day(sunday)}"
    return f"{_day(start.date())}–{_day(sunday)}"


def _day(day: date) -> str:
    return f"{day.month}月{day.day}日"


def sections(
    issue: Issue, tags: Sequence[Tag], config: Config, limit: int | None = None
) -> tuple[Section, ...]:
    """The non-empty sections in order: each tag's, then 其他, then 往期补遗.

    An article appears once, under its primary tag; a primary tag that is not in `tags`
    counts as none. `limit` caps the articles shown per section.
    """
    base = config.output.base_url
    labels = {tag.id: tag.label for tag in tags}
    groups: dict[str, list[Entry]] = {tag.id: [] for tag in (*tags, OTHER)}
    for entry in issue.entries:
        primary = entry.primary if entry.primary in labels else None
        groups[primary or OTHER.id].append(entry)
    all_feed = f"{base}feeds/all.atom"
    result = [
        _section(
            tag,
            groups[tag.id],
            labels,
            issue,
            limit,
            f"{base}feeds/{tag.id}.atom" if tag is not OTHER else all_feed,
        )
        for tag in (*tags, OTHER)
    ]
    result.append(_section(LATE, list(issue.late), labels, issue, limit, all_feed))
    return tuple(section for section in result if section.total)


def _section(
    tag: Tag,
    entries: list[Entry],
    labels: dict[str, str],
    issue: Issue,
    limit: int | None,
    feed_url: str,
) -> Section:
    shown = entries if limit is None else entries[:limit]
    items = tuple(
        Item(
            id=e.article.id,
            title=e.article.title,
            url=safe_url(e.article.url),
            date=_dated(e.article.published, issue),
            account=e.article.account,
            excerpt=excerpt(e.article.content, title=e.article.title),
            labels=tuple(labels[t] for t in e.tags if t in labels and t != tag.id),
        )
        for e in shown
    )
    return Section(tag.id, tag.label, items, len(entries), feed_url)


def _dated(moment: datetime, issue: Issue) -> str:
    day = moment.astimezone(issue.start.tzinfo).date()
    return _day(day) if day.year == issue.start.year else f"{day.year}年{_day(day)}"


def links(tags: Sequence[Tag], config: Config) -> Links:
    base = config.output.base_url
    name, address = parseaddr(config.newsletter.from_)
    return Links(
        feeds=tuple((tag.label, f"{base}feeds/{tag.id}.atom") for tag in tags),
        all_feed=f"{base}feeds/all.atom",
        index=f"{base}index.html",
        unsubscribe=config.newsletter.unsubscribe,
        sender_name=name or config.newsletter.title,
        sender_address=address,
    )


# -- Rendering -----------------------------------------------------------------------------

HTML_TEMPLATE = "newsletter.html.j2"
TEXT_TEMPLATE = "newsletter.txt.j2"


def render_issue(issue: Issue, tags: Sequence[Tag], config: Config) -> Rendered:
    """The subject, HTML and text of an issue, cut to fit HTML_LIMIT if it must be.

    When every article does not fit, each section shows its newest ones (the same number
    in every section, as many as fit) and links the rest to its feed. Raises OutputError
    naming the template when a template is missing or fails.
    """
    env = _environment(config.newsletter.templates)
    rendered = _render(env, issue, tags, config, None)
    if _fits(rendered):
        return rendered
    # The largest per-section cap that fits, by bisection: size grows with the cap.
    low, high = 1, max(s.total for s in sections(issue, tags, config)) - 1
    best: Rendered | None = None
    while low <= high:
        middle = (low + high) // 2
        attempt = _render(env, issue, tags, config, middle)
        if _fits(attempt):
            best, low = attempt, middle + 1
        else:
            high = middle - 1
    if best is None:
        raise OutputError(
            f"{config.newsletter.templates / HTML_TEMPLATE}: issue {issue.key} is over "
            f"{HTML_LIMIT} bytes of HTML even with one article per section; "
            "make the template lighter"
        )
    return best


def _fits(rendered: Rendered) -> bool:
    return len(rendered.html.encode("utf-8")) <= HTML_LIMIT


def _render(
    env: jinja2.Environment,
    issue: Issue,
    tags: Sequence[Tag],
    config: Config,
    limit: int | None,
) -> Rendered:
    subject = subject_line(config.newsletter.title, issue.key, config.tz)
    year, week = parse_week_key(issue.key)
    context = {
        "title": config.newsletter.title,
        "subject": subject,
        "key": issue.key,
        "year": year,
        "week": week,
        "period": period(issue.key, config.tz),
        "sections": sections(issue, tags, config, limit),
        "total": len(issue.entries) + len(issue.late),
        "links": links(tags, config),
    }
    html = _render_template(env, HTML_TEMPLATE, context, config)
    text = _render_template(env, TEXT_TEMPLATE, context, config)
    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    return Rendered(subject=subject, html=inliner.inline(html), text=text)


def _environment(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        # Only the HTML templates escape; the text ones are mailed as written.
        autoescape=jinja2.select_autoescape(["html.j2"], default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _render_template(
    env: jinja2.Environment, name: str, context: dict[str, object], config: Config
) -> str:
    folder = config.newsletter.templates
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise OutputError(
            f"{folder / str(exc.name or name)}: newsletter template not found "
            "(set newsletter.templates to the folder that holds it)"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or folder / name}, line {exc.lineno}"
        raise OutputError(f"{where}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        # A runtime error (an undefined name, a bad filter): name the line that raised it.
        raise OutputError(f"{_template_line(exc) or folder / name}: {exc}") from None


def _template_line(exc: BaseException) -> str | None:
    tb, where = exc.__traceback__, None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where = f"{filename}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return where
