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
from email.message import EmailMessage

from ..config import Config
from ..errors import LoginRefused, MailError
from ..model import Delivery, DeliveryStatus, IssueRecord, IssueStatus, Tag
from ..schedule import week_bounds
from ..site import page_url
from ..storage import Storage
from ..tokens import Purpose, mint
from .issue import Issue
from .message import Recipient, build_message, sender
from .preview import current_issue
from .render import WEB, Edition, Rendered, edition_key, render_issue
from .smtp import (
    Failure,
    FailureKind,
    Pacer,
    Session,
    SmtpFactory,
    check_credentials,
    connect,
    deliver,
    open_session,
    smtp_password,
)


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
    storage: Storage,
    config: Config,
    week: str,
    tags: Sequence[Tag],
    *,
    secret: bytes,
    now: datetime,
    retry_unknown: bool = False,
    dry_run: bool = False,
    smtp_factory: SmtpFactory | None = None,
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
        recipients = storage.subscribers()
        if not recipients:
            raise MailError("there are no subscribers; add some with `feeder subscribers add`")
        if smtp_factory is None and not dry_run:  # before freezing: a typo should cost nothing
            check_credentials(config.smtp, smtp_password())
        web = render_issue(issue, tags, config, WEB)
        assert web is not None  # the issue is not empty
        editions = render_editions(issue, tags, config, [r.tags for r in recipients])
        if dry_run:
            mailed = sum(1 for r in recipients if edition_key(r.tags) in editions)
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
                    [(r.email, edition_key(r.tags)) for r in recipients],
                )
        record = storage.issue_record(week)
        assert record is not None

    count = record.articles + record.late
    if dry_run:
        pending = [d for d in storage.deliveries(week, DeliveryStatus.PENDING) if d.subscribed]
        return _report(storage, week, count, dry_run=True, would_send=len(pending))
    if retry_unknown:
        with storage.transaction():
            storage.retry_in_doubt(week, _utcnow())
    copies = Copies(storage, config, record, secret)
    factory = smtp_factory or (lambda: connect(config.smtp, smtp_password()))
    sent, unreachable = 0, None
    try:
        sent, unreachable = _send_pending(storage, config, week, copies, factory, sleep, stop)
    finally:
        with storage.transaction():
            counts = _counts(storage.deliveries(week))
            unsent = sum(counts.get(status, 0) for status in _UNSENT)
            status = IssueStatus.PARTIAL if unsent else IssueStatus.SENT
            storage.set_issue_status(week, status, _utcnow())
    return _report(storage, week, count, sent_now=sent, unreachable=unreachable)


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


class Copies:
    """Each recipient's copy of a frozen issue: their edition, rendered once per run and
    personalised per message, dated when the issue was frozen."""

    def __init__(self, storage: Storage, config: Config, record: IssueRecord, secret: bytes):
        self._storage = storage
        self._config = config
        self._record = record
        self._secret = secret
        self._editions: dict[str, Rendered] = {}

    def message(self, row: Delivery) -> EmailMessage:
        config, key = self._config, self._record.key
        preferences = mint(self._secret, Purpose.PREFERENCES, row.ref)
        unsubscribe = mint(self._secret, Purpose.UNSUBSCRIBE, row.ref)
        rendered = self._edition(row.edition).personalise(preferences, unsubscribe)
        return build_message(
            rendered,
            key,
            Recipient(row.email, row.name),
            config,
            now=self._record.frozen_at,
            unsubscribe=page_url(config.output.base_url, Purpose.UNSUBSCRIBE, unsubscribe),
        )

    def _edition(self, edition: str) -> Rendered:
        if edition not in self._editions:
            # An issue frozen before editions existed mails its one message to everyone.
            record = self._record
            frozen = self._storage.edition(record.key, edition)
            subject, html, text = frozen or (record.subject, record.html, record.text)
            self._editions[edition] = Rendered(subject, html, text)
        return self._editions[edition]


# A row in one of these states means the issue did not reach everyone.
_UNSENT = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED)


def _send_pending(
    storage: Storage,
    config: Config,
    week: str,
    copies: Copies,
    factory: SmtpFactory,
    sleep: Callable[[float], None],
    stop: threading.Event | None,
) -> tuple[int, str | None]:
    """Mail each pending recipient once: (how many the server accepted, why the server
    could not be reached if that ended the run early, else None)."""
    source = sender(config)
    session = Session(factory)
    pacer = Pacer(config.smtp.max_per_second, sleep)
    sent = 0
    try:
        for row in storage.deliveries(week, DeliveryStatus.PENDING):
            if stop is not None and stop.is_set():
                break
            if not row.subscribed:  # gone before the run began: no need to log in for them
                with storage.transaction():
                    _cancel(storage, week, row.email)
                continue
            data = copies.message(row).as_bytes()
            # Connected and logged in before the row is claimed: a refused login or a
            # server out of reach leaves every row pending, none in doubt.
            failure = open_session(session, config.smtp, sleep)
            if failure is not None:
                if failure.kind is FailureKind.FATAL:
                    raise _fatal(failure)
                return sent, failure.detail  # the rest stay pending for the next run
            with storage.transaction():
                # Asked now, in the claim's transaction, not taken from the list read when
                # the run began: an unsubscribe during a long send counts from the next
                # message on.
                if not storage.is_subscribed(row.email):
                    _cancel(storage, week, row.email)
                    continue
                if not storage.claim_delivery(week, row.email, _utcnow()):
                    continue  # another run took it
            # From here until the row is settled, a crash leaves it in doubt.
            failure = deliver(session, pacer, source.addr_spec, row.email, data, config.smtp, sleep)
            if failure is None:
                sent += 1
            with storage.transaction():
                status = settled_status(failure)
                detail = None if failure is None else failure.detail
                storage.settle_delivery(week, row.email, status, detail, _utcnow())
            if failure is not None and failure.kind is FailureKind.FATAL:
                raise _fatal(failure)
            if failure is not None and failure.connection:
                break  # the server is unreachable: the rest stay pending for the next run
    finally:
        session.close()
    return sent, None


def _cancel(storage: Storage, week: str, email: str) -> None:
    storage.cancel_delivery(week, email, "unsubscribed before it was sent", _utcnow())


def _fatal(failure: Failure) -> MailError:
    """The error that ends the run; a refused login is told apart, so that the daemon can
    stop asking with the same credentials."""
    return LoginRefused(failure.detail) if failure.login else MailError(failure.detail)


def settled_status(failure: Failure | None) -> DeliveryStatus:
    """Where a claimed row goes after one delivery attempt, retries included."""
    if failure is None:
        return DeliveryStatus.SENT
    if failure.kind is FailureKind.PERMANENT:
        return DeliveryStatus.FAILED
    if failure.kind is FailureKind.UNKNOWN:  # left in doubt, exactly as a crash here would be
        return DeliveryStatus.SENDING
    return DeliveryStatus.PENDING  # transient to the end, or fatal: the server never took it


def _counts(rows: Iterable[Delivery]) -> dict[DeliveryStatus, int]:
    counts: dict[DeliveryStatus, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


def _report(
    storage: Storage,
    week: str,
    articles: int,
    *,
    sent_now: int = 0,
    dry_run: bool = False,
    would_send: int = 0,
    unreachable: str | None = None,
) -> SendReport:
    rows = storage.deliveries(week)
    counts = _counts(rows)
    problems = (() if unreachable is None else (unreachable,)) + tuple(
        f"{row.email}: {_problem(row)}"
        for row in rows
        if row.status in (DeliveryStatus.FAILED, DeliveryStatus.SENDING)
        or (row.status is DeliveryStatus.PENDING and row.detail)
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
