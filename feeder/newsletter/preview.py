"""An issue as it stands now, and its preview files for a person to review before it goes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from ..config import Config
from ..files import write_if_changed
from ..model import IssueStatus, Tag
from ..schedule import week_bounds, week_key
from ..site import preview_files
from ..storage import Storage
from .issue import Issue, select_issue
from .message import Recipient, build_message
from .render import Rendered, render_issue

PREVIEW_RECIPIENT = "preview@example.invalid"


def current_issue(storage: Storage, key: str, tz: ZoneInfo) -> Issue:
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
    storage: Storage, config: Config, key: str, tags: Sequence[Tag]
) -> tuple[Rendered, Issue | None]:
    """The issue's message: the frozen one if it has one, else rendered from the state now.

    The Issue is returned only when it was rendered now (None for a frozen issue).
    """
    record = storage.issue_record(key)
    if record is not None and record.status is not IssueStatus.SKIPPED:
        return Rendered(record.subject, record.html, record.text), None
    issue = current_issue(storage, key, config.tz)
    return render_issue(issue, tags, config), issue


def write_preview(storage: Storage, config: Config, key: str, tags: Sequence[Tag]) -> list[Path]:
    """Write out/newsletter/<key>.html, .txt and .eml; return the files that changed.

    The .eml is the message as a subscriber would get it, addressed to a placeholder and
    dated at the end of the week, so that an unchanged issue gives unchanged bytes.
    """
    rendered, _ = issue_message(storage, config, key, tags)
    end = week_bounds(key, config.tz)[1]
    message = build_message(rendered, key, Recipient(PREVIEW_RECIPIENT), config, now=end)
    html, text, eml = (config.output.dir / name for name in preview_files(key))
    outputs = {
        html: rendered.html.encode("utf-8"),
        text: rendered.text.encode("utf-8"),
        eml: message.as_bytes(),
    }
    return [path for path, data in outputs.items() if write_if_changed(path, data)]


def latest_week(storage: Storage, tz: ZoneInfo) -> str | None:
    """The newest week that has articles; None when the state has none."""
    newest = storage.entries(limit=1)
    return week_key(newest[0].article.published, tz) if newest else None
