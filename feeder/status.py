"""What `feeder status` reports: the corpus, the state, the daemon and the newsletter ledger."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .config import Config
from .lock import holder
from .store import Store


@dataclass(frozen=True)
class Status:
    """A snapshot of one feeder installation, for people and for scripts."""

    config_file: str | None  # the config in use; None for built-in defaults
    corpus: str  # the corpus file
    state: str  # the state database
    articles: int  # stored articles
    per_tag: dict[str, int] = field(default_factory=dict)  # articles per tag; "" = untagged
    last_poll: dict[str, Any] | None = None  # when, and what it counted
    daemon_pid: int | None = None  # the daemon holding the state lock, if one runs
    lock_holder: str | None = None  # who holds the lock ("daemon", "poll", …), if anyone
    next_poll: str | None = None  # when the running daemon polls next (approximately)
    next_newsletter: str | None = None  # the next newsletter slot of the cron line
    last_newsletter: dict[str, Any] | None = None  # the newest issue in the ledger
    subscribers: int = 0  # active subscribers
    in_doubt: list[dict[str, Any]] = field(default_factory=list)  # deliveries left "sending"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_text(self) -> str:
        lines = [
            f"config:           {self.config_file or '(built-in defaults)'}",
            f"corpus:           {self.corpus}",
            f"state:            {self.state}",
            f"articles:         {self.articles}",
        ]
        for tag, count in self.per_tag.items():
            lines.append(f"  {tag or '(untagged)':<16}{count}")
        if self.last_poll is None:
            lines.append("last poll:        never")
        else:
            p = self.last_poll
            lines.append(
                f"last poll:        {p['finished_at']}: {p['new']} new, {p['updated']} updated, "
                f"{p['unchanged']} unchanged, {p['skipped']} skipped"
            )
        if self.daemon_pid is not None:
            lines.append(f"daemon:           running (pid {self.daemon_pid})")
        elif self.lock_holder:
            lines.append(f"daemon:           not running ({self.lock_holder} holds the lock)")
        else:
            lines.append("daemon:           not running")
        if self.next_poll:
            lines.append(f"next poll:        {self.next_poll}")
        lines.append(f"next newsletter:  {self.next_newsletter or 'never'}")
        lines.append(f"subscribers:      {self.subscribers}")
        if self.last_newsletter is None:
            lines.append("last newsletter:  never")
        else:
            n = self.last_newsletter
            lines.append(
                f"last newsletter:  {n['key']} {n['status']}: {n['sent']} sent, "
                f"{n['failed']} failed of {n['recipients']} ({n['articles']} articles)"
            )
        if self.in_doubt:
            lines.append(
                f"in doubt:         {len(self.in_doubt)} deliveries may or may not have gone out;"
                " check the mail log, then `feeder newsletter send --week W --retry-unknown`"
            )
            for row in self.in_doubt:
                lines.append(f"  {row['issue']} {row['email']} (since {row['since']})")
        return "\n".join(lines)


def collect_status(config: Config, now: datetime | None = None) -> Status:
    from .daemon import next_newsletter

    now = now or datetime.now(UTC)
    who = holder(config.lock_path)
    daemon_pid = who.pid if who is not None and who.role == "daemon" else None
    with Store.open(config.state.path, config.tz) as store:
        last = store.last_poll()
        issues = store.recent_issues(limit=1)
        slot = next_newsletter(now, config)
        next_poll = None
        if daemon_pid is not None and last is not None:
            next_poll = last.finished_at + timedelta(seconds=config.schedule.poll_seconds)
        return Status(
            config_file=str(config.file) if config.file else None,
            corpus=str(config.corpus.path),
            state=str(config.state.path),
            articles=store.count_articles(),
            per_tag=store.tag_counts(),
            last_poll=None
            if last is None
            else {
                "finished_at": last.finished_at.isoformat(),
                "new": last.new,
                "updated": last.updated,
                "unchanged": last.unchanged,
                "skipped": last.skipped,
            },
            daemon_pid=daemon_pid,
            lock_holder=None if who is None else who.role,
            next_poll=None
            if next_poll is None
            else max(next_poll, now.astimezone(config.tz)).isoformat(),
            next_newsletter=None if slot is None else slot.isoformat(),
            last_newsletter=None
            if not issues
            else {
                "key": issues[0].key,
                "status": issues[0].status,
                "finished_at": None
                if issues[0].finished_at is None
                else issues[0].finished_at.isoformat(),
                "articles": issues[0].articles + issues[0].late,
                "recipients": issues[0].recipients,
                "sent": issues[0].sent,
                "failed": issues[0].failed,
            },
            subscribers=len(store.subscribers()),
            in_doubt=[
                {"issue": d.issue, "email": d.email, "since": d.updated_at.isoformat()}
                for d in store.deliveries_in_doubt()
            ],
        )
