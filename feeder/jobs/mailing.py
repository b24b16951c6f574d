"""The newsletter's jobs: an issue's preview files, a week's send, and the due week's send,
which the daemon runs at every cron slot. Which week is due is decided from the ledger,
never from a scheduler's memory: a run missed while the daemon was down is caught up, once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..classify import Taxonomy
from ..config import Config, SmtpSection
from ..model import Tag
from ..newsletter.dkim import Signer
from ..newsletter.preview import IssueSource, latest_week, write_preview
from ..newsletter.send import SendReport, SendStore, send_issue
from ..newsletter.smtp import SmtpFactory, check_credentials, smtp_password
from ..publish.archive import publish_archive
from ..schedule import cron_trigger, due_week, last_full_week


@dataclass(frozen=True, slots=True)
class Outbox:
    """What sending mail takes besides the state."""

    secret: bytes  # signs the readers' own links
    signer: Signer | None  # the [dkim] signer; None when DKIM is off
    smtp_factory: SmtpFactory | None  # None: connect to the configured server


@dataclass(frozen=True, slots=True)
class Due:
    """What `send_due` found and did."""

    week: str | None  # the week whose issue is due; None if nothing is
    report: SendReport | None = None  # the send's report; None if nothing was sent
    nobody: bool = False  # due, but nobody is subscribed yet


def preview(
    store: IssueSource,
    config: Config,
    tags: Sequence[Tag],
    now: datetime,
    week: str | None,
    latest: bool,
) -> tuple[str, list[Path]]:
    """Write one issue's HTML, text and .eml for review: (its week, the files rewritten).

    `latest` picks the newest week that has articles, `week` a given one; the default is
    the last full week. A sent issue is written as it was sent.
    """
    key = (
        (latest_week(store, config.tz) if latest else None)
        or week
        or last_full_week(now, config.tz)
    )
    return key, write_preview(store, config, key, tags)


def send(
    store: SendStore,
    config: Config,
    tags: Sequence[Tag],
    now: datetime,
    week: str | None,
    outbox: Outbox,
    *,
    dry_run: bool = False,
    retry_unknown: bool = False,
    stop: threading.Event | None = None,
) -> SendReport:
    """Send one week's issue (default: the last full week) to everyone who lacks it, then
    put its web version in the archive at once: the mail links it."""
    report = send_issue(
        store,
        config,
        week or last_full_week(now, config.tz),
        tags,
        secret=outbox.secret,
        now=now,
        retry_unknown=retry_unknown,
        dry_run=dry_run,
        smtp_factory=outbox.smtp_factory,
        signer=outbox.signer,
        stop=stop,
    )
    publish_archive(store, config)
    return report


def send_due(
    store: SendStore,
    config: Config,
    taxonomy: Callable[[], Taxonomy],
    now: datetime,
    outbox: Callable[[], Outbox],
    stop: threading.Event | None = None,
) -> Due:
    """Send the latest cron slot's issue if the ledger does not hold it yet. The taxonomy
    and the outbox are asked for only when an issue is sent."""
    trigger = cron_trigger(config.schedule.newsletter_cron, config.tz)
    week = due_week(now, trigger, config.tz, store.issue_done)
    if week is None:
        return Due(None)
    if not store.subscriber_choices():
        return Due(week, nobody=True)
    report = send(store, config, taxonomy().tags, now, week, outbox(), stop=stop)
    return Due(week, report)


def check_login(smtp: SmtpSection, factory: SmtpFactory | None) -> None:
    """MailError if the configured SMTP login can never be made (no password, no TLS);
    nothing to check when mail goes through a factory of the caller's."""
    if factory is None:
        check_credentials(smtp, smtp_password())
