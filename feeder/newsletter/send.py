"""Sending an issue exactly once per recipient, through the ledger in the state.

Each (issue, recipient) has one ledger row that moves pending → sending → sent or failed,
each step committed on its own around the SMTP transaction. A run that dies in between
leaves the row in `sending`: the message may or may not have gone, so it is not re-sent
until the operator says so (`--retry-unknown`).

An issue is frozen before its first message goes: its articles, its web version, one
rendering per distinct choice of sections among the recipients (an edition), and each
recipient with their edition. A recipient's copy is their edition with their own links
filled in, dated when the issue was frozen: a resumed run mails the same bytes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from ..config import Config
from ..errors import LoginRefused, MailError
from ..model import Delivery, DeliveryStatus, IssueStatus, Tag
from ..schedule import week_bounds
from .copies import Signer
from .dispatch import Dispatch, DispatchStore
from .issue import Issue
from .preview import IssueSource, current_issue
from .render import WEB, Edition, Rendered, edition_key, render_issue
from .smtp import (
    Failure,
    SmtpFactory,
    check_credentials,
    connect,
    smtp_password,
)


class SendStore(IssueSource, DispatchStore, Protocol):
    """What a send reads and writes: the issue's articles, the ledger, the subscribers."""


@dataclass(frozen=True, slots=True)
class SendReport:
    """What one `send_issue` run did, and where the issue's ledger stands after it."""

    key: str  # the week
    status: IssueStatus | None  # the issue's status after the run; None if nothing was frozen
    articles: int = 0  # articles in the issue (its own week's and late ones)
    sent: int = 0  # messages the server accepted in this run (dry run: would send)
    already: int = 0  # recipients who had been sent the issue before this run
    failed: int = 0  # recipients refused for good, in this run or an earlier one
    deferred: int = 0  # recipients still pending after transient failures: a rerun retries
    in_doubt: int = 0  # recipients a crashed run left in SENDING: only --retry-unknown
    skipped: int = 0  # recipients who unsubscribed after the issue was frozen
    empty: int = 0  # recipients none of whose sections had an article: recorded, not mailed
    dry_run: bool = False
    problems: tuple[str, ...] = ()  # one line per recipient not sent, saying why

    @property
    def complete(self) -> bool:
        """Every recipient has the issue, or the week had nothing to send."""
        if self.dry_run:
            return self.failed + self.deferred + self.in_doubt == 0
        return self.status is not None and self.status.done

    def summary(self) -> str:
        if self.status is IssueStatus.SKIPPED:
            return f"{self.key}: nothing to send; recorded as skipped"
        if self.dry_run:
            if self.articles == 0 and self.status is None:
                return f"{self.key} (dry run): nothing to send; would be recorded as skipped"
            return (
                f"{self.key} (dry run): would send {self.sent} messages "
                f"({self.articles} articles); {self.already} already sent"
            )
        return (
            f"{self.key}: {self.sent} sent, {self.already} already sent, {self.failed} failed, "
            f"{self.deferred} deferred, {self.in_doubt} in doubt, {self.skipped} unsubscribed"
            + (f", {self.empty} with nothing in their sections" if self.empty else "")
        )

    def error(self) -> str:
        """One line for the operator when the run is not complete."""
        parts = [
            f"{n} {what}"
            for n, what in (
                (self.failed, "failed"),
                (self.deferred, "deferred (rerun to retry)"),
                (self.in_doubt, "in doubt (check, then rerun with --retry-unknown)"),
            )
            if n
        ]
        detail = f": {self.problems[0]}" if self.problems else ""
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"issue {self.key} not sent to everyone: {', '.join(parts)}{detail}{more}"


def send_issue(
    storage: SendStore,
    config: Config,
    week: str,
    tags: Sequence[Tag],
    *,
    secret: bytes,
    now: datetime,
    retry_unknown: bool = False,
    dry_run: bool = False,
    smtp_factory: SmtpFactory | None = None,
    signer: Signer | None = None,
    connect_state: Callable[[], DispatchStore] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
) -> SendReport:
    """Send week `week`'s issue to every recipient that does not have it yet.

    The first real run freezes the issue (its articles, message and recipients); a week
    with nothing to say is recorded as skipped instead. Later runs resume the frozen issue
    and mail nobody twice. Transient SMTP failures are retried after BACKOFF; a permanent
    refusal fails that recipient only. When `stop` is set (the daemon is shutting down) the
    run ends after the message in flight; the rest stay pending. Raises MailError when the
    week has not ended, when there is nobody to send to, or when the server cannot be used
    at all (TLS, settings); LoginRefused, a MailError, when it refuses the login. Either
    way no recipient is left in doubt.
    """
    end = week_bounds(week, config.tz)[1]
    if end > now:
        raise MailError(
            f"week {week} ends {end:%Y-%m-%d %H:%M %Z}; send its issue after that "
            "(later articles of the week would otherwise miss it)"
        )
    record = storage.issue_record(week)
    if record is not None and record.status.done:
        return _report(storage, week, record.articles + record.late, dry_run=dry_run)

    if record is None:
        issue = current_issue(storage, week, config.tz)
        count = len(issue.entries) + len(issue.late)
        if issue.empty:
            if dry_run:
                return SendReport(week, None, dry_run=True)
            with storage.transaction():
                storage.skip_issue(week, now)
            return SendReport(week, IssueStatus.SKIPPED)
        chosen = storage.subscriber_choices()  # {choice of sections: readers}, not every reader
        if not chosen:
            raise MailError("there are no subscribers; add some with `feeder subscribers add`")
        if smtp_factory is None and not dry_run:  # before freezing: a typo should cost nothing
            check_credentials(config.smtp, smtp_password())
        web = render_issue(issue, tags, config, WEB)
        assert web is not None  # the issue is not empty
        editions = render_editions(issue, tags, config, chosen)
        if dry_run:
            mailed = sum(n for c, n in chosen.items() if edition_key(c) in editions)
            return SendReport(week, None, articles=count, sent=mailed, dry_run=True)
        with storage.transaction():
            if storage.issue_status(week) is None:  # not frozen meanwhile by another run
                storage.freeze_issue(
                    week,
                    now,
                    (web.subject, web.html, web.text),
                    [e.article.id for e in issue.entries],
                    [e.article.id for e in issue.late],
                    {key: (r.subject, r.html, r.text) for key, r in editions.items()},
                )
        record = storage.issue_record(week)
        assert record is not None

    count = record.articles + record.late
    if dry_run:
        pending = storage.delivery_counts(week).get(DeliveryStatus.PENDING, 0)
        return _report(storage, week, count, dry_run=True, would_send=pending)
    if retry_unknown:
        with storage.transaction():
            storage.retry_in_doubt(week, _utcnow())
    factory = smtp_factory or (lambda: connect(config.smtp, smtp_password()))
    dispatch = Dispatch(
        connect_state or storage.another,
        config,
        record,
        secret,
        factory,
        signer=signer,
        sleep=sleep,
        stop=stop,
    )
    started = time.monotonic()
    try:
        result = dispatch.run()
    finally:
        with storage.transaction():
            counts = storage.delivery_counts(week)
            unsent = sum(counts.get(status, 0) for status in _UNSENT)
            status = IssueStatus.PARTIAL if unsent else IssueStatus.SENT
            storage.set_issue_status(week, status, _utcnow())
            storage.add_send_seconds(week, time.monotonic() - started)
    if result.error is not None:
        raise result.error
    if result.fatal is not None:
        raise _fatal(result.fatal)
    return _report(storage, week, count, sent_now=result.sent, unreachable=result.unreachable)


def render_editions(
    issue: Issue,
    tags: Sequence[Tag],
    config: Config,
    choices: Iterable[tuple[str, ...] | None],
) -> dict[str, Rendered]:
    """One rendering per distinct choice of sections, by edition key; a choice whose
    sections are all empty this week has none (its readers are not mailed)."""
    editions: dict[str, Rendered] = {}
    for chosen in {edition_key(c): c for c in choices}.values():
        rendered = render_issue(issue, tags, config, Edition(chosen))
        if rendered is not None:
            editions[edition_key(chosen)] = rendered
    return editions


PROBLEMS = 100  # recipients a report names; the counts cover the rest
# A row in one of these states means the issue did not reach everyone.
_UNSENT = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED)


def _fatal(failure: Failure) -> MailError:
    """The error that ends the run; a refused login is told apart, so that the daemon can
    stop asking with the same credentials."""
    return LoginRefused(failure.detail) if failure.login else MailError(failure.detail)


def _report(
    storage: SendStore,
    week: str,
    articles: int,
    *,
    sent_now: int = 0,
    dry_run: bool = False,
    would_send: int = 0,
    unreachable: str | None = None,
) -> SendReport:
    counts = storage.delivery_counts(week)
    problems = (() if unreachable is None else (unreachable,)) + tuple(
        f"{row.email}: {_problem(row)}" for row in storage.problem_deliveries(week, PROBLEMS)
    )
    return SendReport(
        key=week,
        status=storage.issue_status(week),
        articles=articles,
        sent=would_send if dry_run else sent_now,
        already=counts.get(DeliveryStatus.SENT, 0) - sent_now,
        failed=counts.get(DeliveryStatus.FAILED, 0),
        deferred=0 if dry_run else counts.get(DeliveryStatus.PENDING, 0),
        in_doubt=counts.get(DeliveryStatus.SENDING, 0),
        skipped=counts.get(DeliveryStatus.CANCELLED, 0),
        empty=counts.get(DeliveryStatus.EMPTY, 0),
        dry_run=dry_run,
        problems=problems,
    )


def _problem(row: Delivery) -> str:
    if row.status is DeliveryStatus.SENDING:
        return "in doubt"
    return row.detail or row.status.value


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
