"""Mailing the newsletter: subscribers, the message, SMTP, and the ledger that sends it once.

Each (issue, recipient) has one ledger row that moves pending → sending → sent or failed,
each step committed on its own around the SMTP transaction. A run that dies in between
leaves the row in `sending`: the message may or may not have gone, so it is not re-sent
until the operator says so (`--retry-unknown`). An issue's content and recipients are
frozen before its first message goes, so a resumed run mails the same issue.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email

from .config import Config, SmtpSection
from .errors import MailError
from .files import write_if_changed
from .model import Tag
from .newsletter import (
    Issue,
    Rendered,
    render_issue,
    select_issue,
    week_bounds,
    week_key,
)
from .store import Delivery, Store

PASSWORD_ENV = "FEEDER_SMTP_PASSWORD"
BACKOFF = (1.0, 5.0, 20.0)  # seconds to wait before each retry of a transient failure
PREVIEW_RECIPIENT = "preview@example.invalid"

SmtpFactory = Callable[[], smtplib.SMTP]

# -- Subscribers ---------------------------------------------------------------------------


def normalise_address(text: str) -> str:
    """A checked, normalised address (domain lower-cased, IDN in ASCII); MailError if bad.

    Addresses that need SMTPUTF8 (non-ASCII before the @) are refused: not every relay
    carries them.
    """
    try:
        info = validate_email(text.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise MailError(f"{text.strip()!r} is not a valid email address: {exc}") from None
    return info.ascii_email or info.normalized


def add_subscriber(store: Store, email: str, name: str = "", *, now: datetime) -> tuple[str, bool]:
    """Subscribe an address: (the normalised address, False if it was subscribed already).

    A non-empty `name` replaces the stored one. MailError if the address is not valid.
    """
    address = normalise_address(email)
    with store.transaction():
        return address, store.add_subscriber(address, " ".join(name.split()), now)


def remove_subscriber(store: Store, email: str, *, now: datetime) -> tuple[str, bool]:
    """Unsubscribe an address: (the normalised address, False if it was not subscribed)."""
    address = normalise_address(email)
    with store.transaction():
        return address, store.remove_subscriber(address, now)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What `import_subscribers` did with each line of the file."""

    added: int  # addresses newly subscribed (or back after unsubscribing)
    already: int  # addresses that were subscribed already
    bad: tuple[tuple[int, str], ...]  # (line number, what was wrong) for each refused line


def import_subscribers(store: Store, path: Path, *, now: datetime) -> ImportReport:
    """Subscribe every address in a file, one a line (`addr` or `Name <addr>`).

    Blank lines and lines starting with # are ignored. A bad line is reported by number
    and the good ones are still imported, all in one transaction.
    """
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise MailError(f"{path}: subscriber file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MailError(f"{path}: cannot read subscriber file: {exc}") from None
    return _import_lines(store, lines, now)


def _import_lines(store: Store, lines: Iterable[str], now: datetime) -> ImportReport:
    added = already = 0
    bad: list[tuple[int, str]] = []
    with store.transaction():
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, address = parseaddr(line) if "<" in line else ("", line)
            try:
                email = normalise_address(address or line)
            except MailError as exc:
                bad.append((number, str(exc)))
                continue
            if store.add_subscriber(email, " ".join(name.split()), now):
                added += 1
            else:
                already += 1
    return ImportReport(added, already, tuple(bad))


# -- The message ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    email: str  # normalised address
    name: str = ""  # display name, may be empty


def sender(config: Config) -> Address:
    """newsletter.from as an Address; MailError if it holds no address."""
    name, address = parseaddr(config.newsletter.from_)
    if "@" not in address:
        raise MailError(
            f"newsletter.from {config.newsletter.from_!r} has no address "
            "(write it like '上海科技周报 <newsletter@example.org>')"
        )
    username, domain = address.rsplit("@", 1)
    return Address(display_name=name, username=username, domain=domain)


def message_id(key: str, email: str, domain: str) -> str:
    """The same for every send of one issue to one recipient, so a receiver can tell a copy."""
    digest = hashlib.sha256(f"{key}\n{email.lower()}".encode()).hexdigest()[:32]
    return f"<{key}.{digest}@{domain}>"


def build_message(
    rendered: Rendered, key: str, recipient: Recipient, config: Config, *, now: datetime
) -> EmailMessage:
    """One recipient's copy of an issue: multipart/alternative, text then HTML, UTF-8."""
    source = sender(config)
    message = EmailMessage(policy=SMTP_POLICY)
    message["Subject"] = rendered.subject
    message["From"] = source
    username, domain = recipient.email.rsplit("@", 1)
    message["To"] = Address(display_name=recipient.name, username=username, domain=domain)
    message["Date"] = now
    message["Message-ID"] = message_id(key, recipient.email, source.domain)
    message["List-Id"] = f"{config.newsletter.title} <{source.username}.{source.domain}>"
    unsubscribe = config.newsletter.unsubscribe
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    if unsubscribe.startswith("https://"):  # RFC 8058 one-click needs an https URL
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # base64: a third bigger than Chinese UTF-8, where quoted-printable would triple it.
    message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="base64")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="base64")
    # Not the random default: the same issue gives the same bytes (previews stay unchanged).
    # "=_" never starts a base64 line, so the boundary cannot occur in the parts.
    digest = hashlib.sha256(f"{rendered.text}\0{rendered.html}".encode()).hexdigest()[:32]
    message.set_boundary(f"=_{digest}")
    return message


# -- Choosing and rendering an issue -------------------------------------------------------


def load_tags(config: Config) -> tuple[Tag, ...]:
    """The taxonomy's tags, in the order the newsletter shows their sections."""
    from .classify import load_taxonomy  # the classifier's heavy imports, only when needed

    return load_taxonomy(config.taxonomy.path).tags


def current_issue(store: Store, key: str, tz: ZoneInfo) -> Issue:
    """What week `key`'s issue would hold if it were frozen now (see select_issue)."""
    frozen = store.frozen_weeks()
    start, end = week_bounds(key, tz)
    earliest = min(frozen, default=key)
    since = min(start, week_bounds(earliest, tz)[0])
    return select_issue(
        key,
        tz,
        store.entries_published(since, end),
        frozen=frozen,
        issued=store.issued_article_ids(),
    )


def issue_message(
    store: Store, config: Config, key: str, tags: Sequence[Tag] | None = None
) -> tuple[Rendered, Issue | None]:
    """The issue's message: the frozen one if it has one, else rendered from the store now.

    The Issue is returned only when it was rendered now (None for a frozen issue).
    """
    record = store.issue_record(key)
    if record is not None and record.status != "skipped":
        return Rendered(record.subject, record.html, record.text), None
    issue = current_issue(store, key, config.tz)
    return render_issue(issue, load_tags(config) if tags is None else tags, config), issue


# -- Previews ------------------------------------------------------------------------------


def write_preview(
    store: Store, config: Config, key: str, tags: Sequence[Tag] | None = None
) -> list[Path]:
    """Write out/newsletter/<key>.html, .txt and .eml; return the files that changed.

    The .eml is the message as a subscriber would get it, addressed to a placeholder and
    dated at the end of the week, so that an unchanged issue gives unchanged bytes.
    """
    rendered, _ = issue_message(store, config, key, tags)
    end = week_bounds(key, config.tz)[1]
    message = build_message(rendered, key, Recipient(PREVIEW_RECIPIENT), config, now=end)
    folder = config.output.dir / "newsletter"
    outputs = {
        folder / f"{key}.html": rendered.html.encode("utf-8"),
        folder / f"{key}.txt": rendered.text.encode("utf-8"),
        folder / f"{key}.eml": message.as_bytes(),
    }
    return [path for path, data in outputs.items() if write_if_changed(path, data)]


def latest_week(store: Store, tz: ZoneInfo) -> str | None:
    """The newest week that has articles; None when the store has none."""
    newest = store.entries(limit=1)
    return week_key(newest[0].article.published, tz) if newest else None


def render_latest_preview(
    store: Store, config: Config, tags: Sequence[Tag] | None = None
) -> list[Path]:
    """Preview the newest week that has articles; [] when the store has none."""
    key = latest_week(store, config.tz)
    return [] if key is None else write_preview(store, config, key, tags)


# -- SMTP ----------------------------------------------------------------------------------


def smtp_password() -> str | None:
    """The SMTP password, from the environment only: never from the config or the state."""
    return os.environ.get(PASSWORD_ENV) or None


def connect(smtp: SmtpSection, password: str | None) -> smtplib.SMTP:
    """An SMTP session to the configured server, secured and logged in as configured."""
    check_credentials(smtp, password)
    return _open(smtp, password, ssl.create_default_context())


def check_credentials(smtp: SmtpSection, password: str | None) -> None:
    """MailError if a login is configured that cannot be done safely."""
    if smtp.username and not password:
        raise MailError(f"smtp.username is set but ${PASSWORD_ENV} is empty; export the password")
    if smtp.username and smtp.security == "none":
        raise MailError(
            "refusing to send the SMTP password unencrypted: set smtp.security to "
            "starttls or ssl, or leave smtp.username empty"
        )


def _open(smtp: SmtpSection, password: str | None, context: ssl.SSLContext) -> smtplib.SMTP:
    client: smtplib.SMTP
    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    try:
        if smtp.security == "starttls":
            client.starttls(context=context)
        if smtp.username:
            assert password is not None
            client.login(smtp.username, password)
    except BaseException:
        client.close()
        raise
    return client


@dataclass(frozen=True, slots=True)
class _Failure:
    kind: str  # "transient": try again; "permanent": this recipient; "fatal": the whole run;
    # "unknown": no reply once the whole message was out, so it may have been delivered
    detail: str  # the server's reply or the error, for the ledger and the operator
    connection: bool = False  # the connection itself failed, not one recipient


def _classify(exc: Exception, smtp: SmtpSection) -> _Failure:
    where = f"{smtp.host}:{smtp.port}"
    if isinstance(exc, _SettingsError):
        return _Failure("fatal", str(exc))
    if isinstance(exc, _NoFinalReply):
        return _Failure("unknown", f"{where}: {exc}", connection=True)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return _Failure("fatal", f"{where} refused the login of {smtp.username!r}: {reply}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return _Failure("fatal", f"{where} does not support what smtp.security asks: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        kind = "transient" if 400 <= code < 500 else "permanent"
        return _Failure(kind, f"recipient refused: {_reply(code, text)}")
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        if 400 <= exc.smtp_code < 500:
            return _Failure("transient", reply, connection=exc.smtp_code == 421)
        if isinstance(exc, smtplib.SMTPDataError):
            return _Failure("permanent", f"message refused: {reply}")
        return _Failure("fatal", f"{where} refused the session: {reply}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _Failure("transient", f"{where} closed the connection: {exc}", connection=True)
    if isinstance(exc, ssl.SSLError):
        return _Failure("fatal", f"TLS with {where} failed: {exc}")
    if isinstance(exc, OSError):  # refused, reset, timed out
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        return _Failure("transient", f"{where}: {reason}", connection=True)
    return _Failure("fatal", f"{where}: {exc}")


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"


class _SettingsError(smtplib.SMTPException):
    """connect() refused the settings before talking to the server."""


class _NoFinalReply(smtplib.SMTPException):
    """The connection failed after the whole message was sent, before the server's answer.

    The server may have queued the message (RFC 5321 section 4.1.1.4 warns of duplicates
    here), so resending it on its own could mail the recipient twice.
    """


class _Session:
    """One SMTP connection for the run, opened on first use and again after a failure."""

    def __init__(self, factory: SmtpFactory) -> None:
        self._factory = factory
        self._client: smtplib.SMTP | None = None

    def send(self, from_addr: str, to_addr: str, data: bytes) -> None:
        if self._client is None:
            try:
                self._client = self._factory()
            except MailError as exc:  # the settings (no password…): nothing was sent
                raise _SettingsError(str(exc)) from None
        client = self._client
        handed_over = False
        plain_send = client.send

        def send_and_note(payload: str | bytes) -> None:
            nonlocal handed_over
            plain_send(payload)
            # smtplib sends the message, ending in CRLF "." CRLF, in one call.
            handed_over |= isinstance(payload, bytes) and payload.endswith(b"\r\n.\r\n")

        client.send = send_and_note  # type: ignore[method-assign,assignment]
        try:
            client.sendmail(from_addr, [to_addr], data)
        except smtplib.SMTPResponseException:
            raise  # the server answered: whatever it said is not in doubt
        except OSError as exc:  # SMTPServerDisconnected too: smtplib's errors are OSErrors
            if handed_over:
                raise _NoFinalReply(
                    f"no reply after the whole message was sent ({exc}); "
                    "the server may have taken it"
                ) from None
            raise
        finally:
            del client.send  # back to the class's method

    def drop(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(OSError):
                client.close()

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._client.quit()
        self.drop()


class Pacer:
    """Spaces messages at least 1/per_second apart (smtp.max_per_second)."""

    def __init__(
        self,
        per_second: float,
        sleep: Callable[[float], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = 1.0 / per_second
        self._sleep = sleep
        self._clock = clock
        self._next: float | None = None

    def wait(self) -> None:
        now = self._clock()
        if self._next is not None and now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self._interval


# -- Sending an issue ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendReport:
    """What one `send_issue` run did, and where the issue's ledger stands after it."""

    key: str  # the week
    status: str | None  # the issue's status after the run; None if a dry run froze nothing
    articles: int = 0  # articles in the issue (its own week's and late ones)
    sent: int = 0  # messages the server accepted in this run (dry run: would send)
    already: int = 0  # recipients who had been sent the issue before this run
    failed: int = 0  # recipients refused for good, in this run or an earlier one
    deferred: int = 0  # recipients still pending after transient failures: a rerun retries
    in_doubt: int = 0  # recipients a crashed run left in 'sending': only --retry-unknown
    skipped: int = 0  # recipients who unsubscribed after the issue was frozen
    dry_run: bool = False
    problems: tuple[str, ...] = ()  # one line per recipient not sent, saying why

    @property
    def complete(self) -> bool:
        """Every recipient has the issue, or the week had nothing to send."""
        unsent = self.failed + self.deferred + self.in_doubt
        return unsent == 0 if self.dry_run else self.status in ("sent", "skipped")

    def summary(self) -> str:
        if self.status == "skipped":
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
    store: Store,
    config: Config,
    week: str,
    *,
    now: datetime,
    retry_unknown: bool = False,
    dry_run: bool = False,
    smtp_factory: SmtpFactory | None = None,
    sleep: Callable[[float], None] = time.sleep,
    tags: Sequence[Tag] | None = None,
    stop: threading.Event | None = None,
) -> SendReport:
    """Send week `week`'s issue to every recipient that does not have it yet.

    The first real run freezes the issue (its articles, message and recipients); a week
    with nothing to say is recorded as skipped instead. Later runs resume the frozen issue
    and mail nobody twice. Transient SMTP failures are retried after BACKOFF; a permanent
    refusal fails that recipient only. When `stop` is set (the daemon is shutting down) the
    run ends after the message in flight; the rest stay pending. Raises MailError when the
    week has not ended, when there is nobody to send to, or when the server cannot be used
    at all (login, TLS).
    """
    end = week_bounds(week, config.tz)[1]
    if end > now:
        raise MailError(
            f"week {week} ends {end:%Y-%m-%d %H:%M %Z}; send its issue after that "
            "(later articles of the week would otherwise miss it)"
        )
    record = store.issue_record(week)
    if record is not None and record.status in ("sent", "skipped"):
        return _report(store, week, record.articles + record.late, dry_run=dry_run)

    if record is None:
        issue = current_issue(store, week, config.tz)
        count = len(issue.entries) + len(issue.late)
        if issue.empty:
            if dry_run:
                return SendReport(week, None, dry_run=True)
            with store.transaction():
                store.skip_issue(week, now)
            return SendReport(week, "skipped")
        recipients = store.subscribers()
        if not recipients:
            raise MailError("there are no subscribers; add some with `feeder subscribers add`")
        if smtp_factory is None and not dry_run:  # before freezing: a typo should cost nothing
            check_credentials(config.smtp, smtp_password())
        rendered = render_issue(issue, load_tags(config) if tags is None else tags, config)
        if dry_run:
            return SendReport(week, None, articles=count, sent=len(recipients), dry_run=True)
        with store.transaction():
            if store.issue_status(week) is None:  # not frozen meanwhile by another run
                store.freeze_issue(
                    week,
                    now,
                    (rendered.subject, rendered.html, rendered.text),
                    [e.article.id for e in issue.entries],
                    [e.article.id for e in issue.late],
                    [r.email for r in recipients],
                )
        record = store.issue_record(week)
        assert record is not None

    count = record.articles + record.late
    if dry_run:
        pending = [d for d in store.deliveries(week, "pending") if d.subscribed]
        return _report(store, week, count, dry_run=True, would_send=len(pending))
    if retry_unknown:
        with store.transaction():
            store.retry_in_doubt(week, _utcnow())
    rendered = Rendered(record.subject, record.html, record.text)
    factory = smtp_factory or (lambda: connect(config.smtp, smtp_password()))
    sent = 0
    try:
        sent = _send_pending(store, config, week, rendered, now, factory, sleep, stop)
    finally:
        with store.transaction():
            counts = _counts(store.deliveries(week))
            unsent = sum(counts.get(status, 0) for status in ("pending", "sending", "failed"))
            store.set_issue_status(week, "partial" if unsent else "sent", _utcnow())
    return _report(store, week, count, sent_now=sent)


def _send_pending(
    store: Store,
    config: Config,
    week: str,
    rendered: Rendered,
    now: datetime,
    factory: SmtpFactory,
    sleep: Callable[[float], None],
    stop: threading.Event | None,
) -> int:
    """Mail each pending recipient once; return how many the server accepted."""
    source = sender(config)
    session = _Session(factory)
    pacer = Pacer(config.smtp.max_per_second, sleep)
    sent = 0
    try:
        for row in store.deliveries(week, "pending"):
            if stop is not None and stop.is_set():
                break
            if not row.subscribed:
                with store.transaction():
                    store.settle_delivery(
                        week, row.email, "cancelled", "unsubscribed before it was sent", _utcnow()
                    )
                continue
            message = build_message(rendered, week, Recipient(row.email, row.name), config, now=now)
            data = message.as_bytes()
            with store.transaction():
                if not store.claim_delivery(week, row.email, _utcnow()):
                    continue  # another run took it
            # From here until the row is settled, a crash leaves it in doubt.
            failure = _deliver(session, pacer, source.addr_spec, row.email, data, config, sleep)
            if failure is None:
                status, detail = "sent", None
                sent += 1
            elif failure.kind == "permanent":
                status, detail = "failed", failure.detail
            elif failure.kind == "unknown":  # left in doubt, exactly as a crash here would be
                status, detail = "sending", failure.detail
            else:  # transient to the end, or fatal: the server never took it
                status, detail = "pending", failure.detail
            with store.transaction():
                store.settle_delivery(week, row.email, status, detail, _utcnow())
            if failure is not None and failure.kind == "fatal":
                raise MailError(failure.detail)
            if failure is not None and failure.connection:
                break  # the server is unreachable: the rest stay pending for the next run
    finally:
        session.close()
    return sent


def _deliver(
    session: _Session,
    pacer: Pacer,
    from_addr: str,
    to_addr: str,
    data: bytes,
    config: Config,
    sleep: Callable[[float], None],
) -> _Failure | None:
    """One message, retried after BACKOFF while the failure is transient; None if sent."""
    failure: _Failure | None = None
    for delay in (0.0, *BACKOFF):
        if delay:
            sleep(delay)
        pacer.wait()
        try:
            session.send(from_addr, to_addr, data)
            return None
        except (smtplib.SMTPException, OSError) as exc:
            failure = _classify(exc, config.smtp)
        if failure.kind != "transient":
            if failure.kind in ("fatal", "unknown"):
                session.drop()
            return failure
        session.drop()  # a fresh connection for the next attempt
    return failure


def _counts(rows: Iterable[Delivery]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


def _report(
    store: Store,
    week: str,
    articles: int,
    *,
    sent_now: int = 0,
    dry_run: bool = False,
    would_send: int = 0,
) -> SendReport:
    rows = store.deliveries(week)
    counts = _counts(rows)
    problems = tuple(
        f"{row.email}: {'in doubt' if row.status == 'sending' else row.detail or row.status}"
        for row in rows
        if row.status in ("failed", "sending") or (row.status == "pending" and row.detail)
    )
    return SendReport(
        key=week,
        status=store.issue_status(week),
        articles=articles,
        sent=would_send if dry_run else sent_now,
        already=counts.get("sent", 0) - sent_now,
        failed=counts.get("failed", 0),
        deferred=0 if dry_run else counts.get("pending", 0),
        in_doubt=counts.get("sending", 0),
        skipped=counts.get("cancelled", 0),
        dry_run=dry_run,
        problems=problems,
    )


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
