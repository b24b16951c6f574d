"""What `feeder status` (and /metrics) reports: the corpus, the state, the daemon and the
newsletter ledger, for people (`as_text`) and for scripts (`as_dict`, printed as JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..config import Config
from ..lock import holder
from ..model import Delivery, IssueRecord, PollRecord, SubscriberStatus, Tag
from ..schedule import cron_trigger, next_slot
from ..storage.mail_stores import DeliveryStore, IssueStore, SubscriberStore
from ..storage.stores import ArticleStore, PollStore


class Watched(ArticleStore, PollStore, SubscriberStore, IssueStore, DeliveryStore, Protocol):
    """What a status report reads: counts of articles and subscribers, the last poll, the
    newest issue and the deliveries in doubt."""


def status(store: Watched, config: Config, tags: Sequence[Tag], now: datetime) -> Status:
    """The corpus, articles per tag, the last poll, the daemon and the newsletter ledger."""
    daemon = holder(config.daemon_lock_path)
    job = holder(config.lock_path)
    last = store.last_poll()
    issues = store.recent_issues(limit=1)
    return Status(
        config_file=str(config.file) if config.file else None,
        corpus=str(config.corpus.path),
        state=str(store.location),
        articles=store.count_articles(),
        per_tag=per_tag(store.tag_counts(), tags),
        last_poll=last,
        daemon_pid=None if daemon is None else daemon.pid,
        lock_holder=None if job is None else job.role,
        next_poll=None if daemon is None else next_poll(last, config, now),
        next_newsletter=next_slot(now, cron_trigger(config.schedule.newsletter_cron, config.tz)),
        last_newsletter=issues[0] if issues else None,
        subscribers=store.subscriber_counts()[SubscriberStatus.ACTIVE],
        in_doubt=store.deliveries_in_doubt(),
    )


def per_tag(counts: dict[str, int], tags: Sequence[Tag]) -> dict[str, int]:
    """Articles per tag in the taxonomy's order, then tags the taxonomy no longer has (until
    the next poll re-tags them), then the untagged ("") last. Pure."""
    left = dict(counts)
    shown = {tag.id: left.pop(tag.id, 0) for tag in tags}
    untagged = left.pop("", 0)
    return shown | left | {"": untagged}


def next_poll(last: PollRecord | None, config: Config, now: datetime) -> datetime | None:
    """When a running daemon polls next, about: an interval after the last poll, or now if
    that is past; None before the first poll. Pure."""
    if last is None:
        return None
    due = last.finished_at + timedelta(seconds=config.schedule.poll_seconds)
    return max(due, now.astimezone(config.tz))


@dataclass(frozen=True)
class Status:
    """A snapshot of one feeder installation."""

    config_file: str | None  # the config in use; None for built-in defaults
    corpus: str  # the corpus file
    state: str  # the state database
    articles: int  # stored articles
    per_tag: dict[str, int] = field(default_factory=dict)  # articles per tag; "" = untagged
    last_poll: PollRecord | None = None
    daemon_pid: int | None = None  # the running daemon, if one runs
    lock_holder: str | None = None  # the job holding the state lock ("poll", …), if any
    next_poll: datetime | None = None  # when the running daemon polls next (approximately)
    next_newsletter: datetime | None = None  # the next newsletter slot of the cron line
    last_newsletter: IssueRecord | None = None  # the newest issue in the ledger
    subscribers: int = 0  # active subscribers
    in_doubt: list[Delivery] = field(default_factory=list)  # deliveries left in SENDING

    def as_dict(self) -> dict[str, Any]:
        poll, issue = self.last_poll, self.last_newsletter
        return {
            "config_file": self.config_file,
            "corpus": self.corpus,
            "state": self.state,
            "articles": self.articles,
            "per_tag": self.per_tag,
            "last_poll": None
            if poll is None
            else {
                "finished_at": poll.finished_at.isoformat(),
                "new": poll.new,
                "updated": poll.updated,
                "unchanged": poll.unchanged,
                "skipped": poll.skipped,
            },
            "daemon_pid": self.daemon_pid,
            "lock_holder": self.lock_holder,
            "next_poll": _iso(self.next_poll),
            "next_newsletter": _iso(self.next_newsletter),
            "last_newsletter": None
            if issue is None
            else {
                "key": issue.key,
                "status": issue.status.value,
                "finished_at": _iso(issue.finished_at),
                "articles": issue.articles + issue.late,
                "recipients": issue.recipients,
                "sent": issue.sent,
                "failed": issue.failed,
            },
            "subscribers": self.subscribers,
            "in_doubt": [
                {"issue": d.issue, "email": d.email, "since": d.updated_at.isoformat()}
                for d in self.in_doubt
            ],
        }

    def as_text(self) -> str:
        lines = [
            f"config:           {self.config_file or '(built-in defaults)'}",
            f"corpus:           {self.corpus}",
            f"state:            {self.state}",
            f"articles:         {self.articles}",
        ]
        for tag, count in self.per_tag.items():
            lines.append(f"  {tag or '(untagged)':<16}{count}")
        poll = self.last_poll
        if poll is None:
            lines.append("last poll:        never")
        else:
            lines.append(
                f"last poll:        {poll.finished_at.isoformat()}: {poll.new} new, "
                f"{poll.updated} updated, {poll.unchanged} unchanged, {poll.skipped} skipped"
            )
        if self.daemon_pid is not None:
            lines.append(f"daemon:           running (pid {self.daemon_pid})")
        elif self.lock_holder:
            lines.append(f"daemon:           not running ({self.lock_holder} holds the lock)")
        else:
            lines.append("daemon:           not running")
        if self.next_poll:
            lines.append(f"next poll:        {self.next_poll.isoformat()}")
        lines.append(f"next newsletter:  {_iso(self.next_newsletter) or 'never'}")
        lines.append(f"subscribers:      {self.subscribers}")
        issue = self.last_newsletter
        if issue is None:
            lines.append("last newsletter:  never")
        else:
            lines.append(
                f"last newsletter:  {issue.key} {issue.status.value}: {issue.sent} sent, "
                f"{issue.failed} failed of {issue.recipients} "
                f"({issue.articles + issue.late} articles)"
            )
        if self.in_doubt:
            lines.append(
                f"in doubt:         {len(self.in_doubt)} deliveries may or may not have gone out;"
                " check the mail log, then `feeder newsletter send --week W --retry-unknown`"
            )
            for row in self.in_doubt:
                lines.append(f"  {row.issue} {row.email} (since {row.updated_at.isoformat()})")
        return "\n".join(lines)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
