"""The newsletter's archive under out/newsletter/: each sent issue's web version, a page that
lists them, and a feed of them. `build_archive` turns the ledger's sent issues into bytes
(pure); `publish_archive` writes the files whose bytes changed.

Every build writes the archive with the rest of the site, so it is never lost or stale; the
send calls `publish_archive` too, so that an issue's web version, which its mail links, is
there as soon as the mail is, not only after the next poll.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ..config import Config
from ..files import write_if_changed
from ..model import IssueRecord
from ..schedule import week_bounds
from ..site import (
    ARCHIVE,
    ISSUES_FEED,
    index_url,
    subscribe_url,
    web_version_path,
    web_version_url,
)
from ..storage import IssueStore
from ..templating import Templates
from ..text import one_line
from .feeds import ATOM_TYPE, build_issues_feed, issues_feed_info

TEMPLATE = "archive.html.j2"


@dataclass(frozen=True, slots=True)
class ArchivedIssue:
    """One sent issue as the archive page lists it."""

    key: str  # the ISO week, "2026-W05"; also a valid HTML <time> value
    subject: str  # one line; the week's key if the subject is empty
    url: str  # its web version
    first_day: str  # the week's Monday, YYYY-MM-DD in the configured zone
    last_day: str  # and its Sunday
    articles: int  # every article it carries: its week's and late ones


def publish_archive(storage: IssueStore, config: Config) -> list[Path]:
    """Rewrite the archive from the ledger; return the files rewritten.

    For the newsletter send to call once an issue went out; a build does the same through
    `publish`. Reading needs no transaction: it is one query.
    """
    files = build_archive(
        storage.sent_issues(),
        newsletter=config.newsletter.title,
        base_url=config.output.base_url,
        tz=config.tz,
        templates=Templates(config.newsletter.templates),
    )
    out = config.output.dir
    return [out / name for name, data in files.items() if write_if_changed(out / name, data)]


def build_archive(
    issues: Iterable[IssueRecord],
    *,
    newsletter: str,
    base_url: str,
    tz: ZoneInfo,
    templates: Templates,
) -> dict[str, bytes]:
    """The archive's files by path relative to the output folder, in build order: the web
    versions, then the feed and the page that link them. No clock: the same issues give
    the same bytes.

    `issues` are the sent ones (sent or partial), in any order; each web version is the
    issue's HTML as stored, which holds no recipient's personal links.
    """
    ordered = sorted(issues, key=lambda issue: issue.key, reverse=True)
    # Listing first: a malformed week key fails here, before it can name a file.
    listed = [_archived(issue, base_url, tz) for issue in ordered]
    files = {web_version_path(issue.key): issue.html.encode("utf-8") for issue in ordered}
    feed = issues_feed_info(newsletter, base_url)
    files[ISSUES_FEED] = build_issues_feed(feed, ordered, base_url, tz)
    context = {
        "title": feed.title,
        "newsletter": newsletter,
        "feed": feed,
        "feed_type": ATOM_TYPE,
        "index_url": index_url(base_url),
        "subscribe_url": subscribe_url(base_url),
        "issues": listed,
    }
    files[ARCHIVE] = templates.render(TEMPLATE, context, what="archive page").encode("utf-8")
    return files


def _archived(issue: IssueRecord, base_url: str, tz: ZoneInfo) -> ArchivedIssue:
    start, end = week_bounds(issue.key, tz)
    return ArchivedIssue(
        key=issue.key,
        subject=one_line(issue.subject) or issue.key,
        url=web_version_url(base_url, issue.key),
        first_day=start.date().isoformat(),
        last_day=(end - timedelta(days=1)).date().isoformat(),
        articles=issue.articles + issue.late,
    )
