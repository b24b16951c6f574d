"""Rendering an issue: the sections the templates see, then the operator's Jinja2 templates
with their CSS inlined for mail clients, cut to fit what mail clients show."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from zoneinfo import ZoneInfo

import css_inline

from ..config import Config
from ..errors import OutputError
from ..model import Entry, Tag
from ..schedule import parse_week_key, week_bounds
from ..site import (
    ALL,
    archive_url,
    feed_url,
    index_url,
    page_url,
    subscribe_url,
    web_version_url,
)
from ..templating import Templates
from ..text import excerpt, shorten, web_url
from ..tokens import Purpose
from .issue import Issue

ACCOUNT_CHARS = 40  # an account name longer than this is cut where it is shown
HTML_LIMIT = 100_000  # bytes of HTML; Gmail clips a message whose HTML passes ~102 KB
OTHER = Tag("other", "其他", "articles the categoriser gave no tag")
LATE = Tag("late", "往期补遗", "earlier weeks' articles that arrived after their issue went out")


# -- What the templates see ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssueArticle:
    """One article as the newsletter shows it."""

    id: str  # the corpus id
    title: str  # one line, at most text.TITLE_CHARS characters
    url: str | None  # the original article, only if http or https
    date: str  # "1月29日" (with the year when it differs from the issue's)
    account: str  # the official account, may be empty
    excerpt: str  # about text.EXCERPT_CHARS characters of the text
    labels: tuple[str, ...]  # the labels of its tags other than the section's


@dataclass(frozen=True, slots=True)
class Section:
    """One heading of the newsletter and the articles under it."""

    id: str  # a tag id, "other" or "late"
    label: str  # the heading: 政策, 科研, 产业, 其他, 往期补遗
    items: tuple[IssueArticle, ...]  # the articles shown
    total: int  # articles in the section, shown or not
    feed_url: str  # where the ones not shown can be read

    @property
    def more(self) -> int:
        return self.total - len(self.items)


@dataclass(frozen=True, slots=True)
class Links:
    """Where the header and footer point. A mailed edition has the recipient's own links
    (placeholders until `personalise` fills them in); the web version has none."""

    feeds: tuple[tuple[str, str], ...]  # (label, url) for each tag's feed
    all_feed: str
    index: str
    archive: str  # every issue sent so far
    subscribe: str  # the sign-up form
    web_version: str  # this issue in a browser
    sender_name: str
    sender_address: str
    preferences: str | None = None  # the recipient's preferences page; None on the web
    unsubscribe: str | None = None  # the recipient's unsubscribe page; None on the web


# Stand-ins for a recipient's tokens in a rendered edition: plain letters, which neither
# HTML escaping nor the CSS inliner touch, and which no article text will contain.
PREFERENCES_SLOT = "FEEDERxPREFERENCESxTOKEN"
UNSUBSCRIBE_SLOT = "FEEDERxUNSUBSCRIBExTOKEN"


@dataclass(frozen=True, slots=True)
class Rendered:
    """An issue as rendered once for every recipient of the same sections (or for the web)."""

    subject: str
    html: str  # CSS inlined; at most HTML_LIMIT bytes as UTF-8
    text: str

    def personalise(self, preferences: str, unsubscribe: str) -> Rendered:
        """One recipient's copy: their tokens in place of the stand-ins."""

        def fill(body: str) -> str:
            return body.replace(PREFERENCES_SLOT, preferences).replace(
                UNSUBSCRIBE_SLOT, unsubscribe
            )

        return Rendered(self.subject, fill(self.html), fill(self.text))


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
    issue: Issue,
    tags: Sequence[Tag],
    config: Config,
    limit: int | None = None,
    chosen: Collection[str] | None = None,
) -> tuple[Section, ...]:
    """The non-empty sections in order: each tag's, then 其他, then 往期补遗.

    An article appears once, under its primary tag; a primary tag that is not in `tags`
    counts as none. `limit` caps the articles shown per section.

    `chosen` is a subscriber's choice of tag ids (None: everything). Then only those tags'
    sections are shown, an article goes under the first of its tags that was chosen (so a
    reader of 政策 also gets an industry story that is policy too), and 其他 is left out;
    往期补遗 keeps the late articles that have a chosen tag.
    """
    base = config.output.base_url
    labels = {tag.id: tag.label for tag in tags}
    shown = [*tags, OTHER] if chosen is None else [t for t in tags if t.id in chosen]
    groups: dict[str, list[Entry]] = {tag.id: [] for tag in shown}
    for entry in issue.entries:
        home = _home(entry, labels, chosen)
        if home is not None:
            groups[home].append(entry)
    late = [e for e in issue.late if _home(e, labels, chosen) is not None]
    all_feed = feed_url(base, ALL)
    result = [
        _section(
            tag,
            groups[tag.id],
            labels,
            issue,
            limit,
            feed_url(base, tag.id) if tag is not OTHER else all_feed,
        )
        for tag in shown
    ]
    result.append(_section(LATE, late, labels, issue, limit, all_feed))
    return tuple(section for section in result if section.total)


def _home(entry: Entry, labels: Mapping[str, str], chosen: Collection[str] | None) -> str | None:
    """The section an entry goes under; None if the reader chose none of its tags."""
    if chosen is None:
        return entry.primary if entry.primary in labels else OTHER.id
    return next((tag for tag in entry.tags if tag in labels and tag in chosen), None)


def _section(
    tag: Tag,
    entries: list[Entry],
    labels: dict[str, str],
    issue: Issue,
    limit: int | None,
    more_url: str,
) -> Section:
    shown = entries if limit is None else entries[:limit]
    items = tuple(
        IssueArticle(
            id=e.article.id,
            title=shorten(e.article.title),
            url=web_url(e.article.url),
            date=_dated(e.article.published, issue),
            account=shorten(e.article.account, ACCOUNT_CHARS),
            excerpt=excerpt(e.article.content, title=e.article.title),
            labels=tuple(labels[t] for t in e.tags if t in labels and t != tag.id),
        )
        for e in shown
    )
    return Section(tag.id, tag.label, items, len(entries), more_url)


def _dated(moment: datetime, issue: Issue) -> str:
    day = moment.astimezone(issue.start.tzinfo).date()
    return _day(day) if day.year == issue.start.year else f"{day.year}年{_day(day)}"


def links(tags: Sequence[Tag], config: Config, key: str, *, personal: bool) -> Links:
    base = config.output.base_url
    name, address = parseaddr(config.newsletter.from_)
    return Links(
        feeds=tuple((tag.label, feed_url(base, tag.id)) for tag in tags),
        all_feed=feed_url(base, ALL),
        index=index_url(base),
        archive=archive_url(base),
        subscribe=subscribe_url(base),
        web_version=web_version_url(base, key),
        sender_name=name or config.newsletter.title,
        sender_address=address,
        preferences=page_url(base, Purpose.PREFERENCES, PREFERENCES_SLOT) if personal else None,
        unsubscribe=page_url(base, Purpose.UNSUBSCRIBE, UNSUBSCRIBE_SLOT) if personal else None,
    )


# -- Rendering -----------------------------------------------------------------------------

HTML_TEMPLATE = "newsletter.html.j2"
TEXT_TEMPLATE = "newsletter.txt.j2"


@dataclass(frozen=True, slots=True)
class Edition:
    """Which rendering of an issue a reader gets: their sections, and whether it is mailed."""

    chosen: tuple[str, ...] | None = None  # tag ids; None: every section, 其他 included
    personal: bool = True  # mailed (with the reader's own links) rather than the web version


WEB = Edition(personal=False)
EVERYTHING = "*"  # the edition key of every section


def edition_key(chosen: tuple[str, ...] | None) -> str:
    """How the ledger names an edition: EVERYTHING, else the chosen tag ids."""
    return EVERYTHING if chosen is None else " ".join(chosen)


def render_issue(
    issue: Issue, tags: Sequence[Tag], config: Config, edition: Edition = Edition()
) -> Rendered | None:
    """The subject, HTML and text of one edition, cut to fit HTML_LIMIT if it must be; None
    when the edition's sections are all empty this week (its readers get no mail).

    When every article does not fit, each section shows its newest ones (the same number
    in every section, as many as fit) and links the rest to its feed. Raises OutputError
    naming the template when a template is missing or fails.
    """
    shown = sections(issue, tags, config, chosen=edition.chosen)
    if not shown and not (edition.chosen is None and issue.empty):
        return None
    templates = Templates(config.newsletter.templates)
    rendered = _render(templates, issue, tags, config, None, edition)
    if _fits(rendered):
        return rendered
    # The largest per-section cap that fits, by bisection: size grows with the cap.
    low, high = 1, max(s.total for s in shown) - 1
    best: Rendered | None = None
    while low <= high:
        middle = (low + high) // 2
        attempt = _render(templates, issue, tags, config, middle, edition)
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
    templates: Templates,
    issue: Issue,
    tags: Sequence[Tag],
    config: Config,
    limit: int | None,
    edition: Edition,
) -> Rendered:
    subject = subject_line(config.newsletter.title, issue.key, config.tz)
    year, week = parse_week_key(issue.key)
    shown = sections(issue, tags, config, limit, edition.chosen)
    context = {
        "title": config.newsletter.title,
        "subject": subject,
        "key": issue.key,
        "year": year,
        "week": week,
        "period": period(issue.key, config.tz),
        "sections": shown,
        "total": sum(section.total for section in shown),
        "links": links(tags, config, issue.key, personal=edition.personal),
    }
    html = templates.render(HTML_TEMPLATE, context, what="newsletter")
    text = templates.render(TEXT_TEMPLATE, context, what="newsletter")
    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    return Rendered(subject=subject, html=inliner.inline(html), text=text)
