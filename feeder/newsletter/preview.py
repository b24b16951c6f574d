"""An issue as it stands now, and its preview files for a person to review before it goes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from ..config import Config
from ..files import write_if_changed
from ..model import IssueStatus, Tag
from ..schedule import week_bounds, week_key
from ..site import page_url, preview_files
from ..storage import ArticleStore, IssueStore
from ..tokens import Purpose
from .issue import Issue, select_issue
from .message import Recipient, message_bytes
from .render import EVERYTHING, WEB, Rendered, render_issue

PREVIEW_RECIPIENT = "preview@example.invalid"
PREVIEW_TOKEN = "preview"  # in the sample's links: the pages answer it with "not valid"


class IssueSource(ArticleStore, IssueStore, Protocol):
    """What an issue is made from: the stored articles, and the issues frozen before it."""


def current_issue(storage: IssueSource, key: str, tz: ZoneInfo) -> Issue:
    """What week `key`'s issue would hold if it were frozen now (see select_issue)."""
    frozen = storage.frozen_weeks()
    start, end = week_bounds(key, tz)
    earliest = min(frozen, default=key)
    since = min(start, week_bounds(earliest, tz)[0])
    return select_issue(
        key,
        tz,
        storage.entries_published(since, end),
        frozen=frozen,
        issued=storage.issued_article_ids(),
    )


def issue_message(
    storage: IssueSource, config: Config, key: str, tags: Sequence[Tag]
) -> tuple[Rendered, Rendered]:
    """The issue's web version and the mail of every section (with stand-ins for a reader's
    links): as frozen if it was, else as it would be rendered from the state now."""
    record = storage.issue_record(key)
    if record is not None and record.status is not IssueStatus.SKIPPED:
        web = Rendered(record.subject, record.html, record.text)
        frozen = storage.edition(key, EVERYTHING)
        return web, web if frozen is None else Rendered(*frozen)
    issue = current_issue(storage, key, config.tz)
    page, everything = render_issue(issue, tags, config, WEB), render_issue(issue, tags, config)
    assert page is not None and everything is not None  # both show every section
    return page, everything


def write_preview(
    storage: IssueSource, config: Config, key: str, tags: Sequence[Tag]
) -> list[Path]:
    """Write out/newsletter/<key>.html and .txt (the web version) and .eml; return the files
    that changed.

    The .eml is the message as a reader of every section would get it, addressed to a
    placeholder with placeholder links and dated at the end of the week, so that an
    unchanged issue gives unchanged bytes.
    """
    web, mail = issue_message(storage, config, key, tags)
    end = week_bounds(key, config.tz)[1]
    sample = mail.personalise(PREVIEW_TOKEN, PREVIEW_TOKEN)
    unsubscribe = page_url(config.output.base_url, Purpose.UNSUBSCRIBE, PREVIEW_TOKEN)
    recipient = Recipient(PREVIEW_RECIPIENT)
    message = message_bytes(sample, key, recipient, config, now=end, unsubscribe=unsubscribe)
    html, text, eml = (config.output.dir / name for name in preview_files(key))
    outputs = {
        html: web.html.encode("utf-8"),
        text: web.text.encode("utf-8"),
        eml: message,
    }
    return [path for path, data in outputs.items() if write_if_changed(path, data)]


def latest_week(storage: ArticleStore, tz: ZoneInfo) -> str | None:
    """The newest week that has articles; None when the state has none."""
    newest = storage.entries(limit=1)
    return week_key(newest[0].article.published, tz) if newest else None
