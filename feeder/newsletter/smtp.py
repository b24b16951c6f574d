"""Talking SMTP: the session, the pace, retries, and what each failure means for the ledger.

A failure is TRANSIENT (try again), PERMANENT (this recipient only), FATAL (the whole run)
or UNKNOWN: no reply came once the whole message was out, so the server may have queued it
and resending it on its own could mail the recipient twice.
"""

from __future__ import annotations

import base64
import contextlib
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from ..config import SmtpSection
from ..environment import SMTP_PASSWORD
from ..errors import MailError

PASSWORD_ENV = SMTP_PASSWORD.name  # the variable's name, for messages
BACKOFF = (1.0, 5.0, 20.0)  # seconds to wait before each retry of a transient failure

SmtpFactory = Callable[[], smtplib.SMTP]


def smtp_password() -> str | None:
    """The SMTP password, from the environment only: never from the config or the state."""
    return SMTP_PASSWORD.read()


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
            login(client, smtp.username, password)
    except BaseException:
        client.close()
        raise
    return client


# Tried in this order; the first the server offers is used. CRAM-MD5, which smtplib tries
# first, is left out: feeder logs in only over TLS, where it protects nothing, and it has no
# agreed encoding for a password outside ASCII.
MECHANISMS = ("PLAIN", "LOGIN")


def login(client: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH PLAIN (RFC 4616) or LOGIN, with the username and password encoded as UTF-8.

    Done here over `docmd` rather than with `SMTP.login`: smtplib encodes the credentials
    as ASCII (a password like "pässwörd-密码" raised UnicodeEncodeError), and it tries
    every mechanism in turn, so one wrong password cost the account several failed logins.
    Here it is one attempt, with one mechanism. Raises SMTPAuthenticationError when the
    server refuses the credentials, SMTPResponseException for a 4xx (try again later).
    """
    client.ehlo_or_helo_if_needed()
    offered = client.esmtp_features.get("auth", "").upper().split()
    mechanism = next((m for m in MECHANISMS if m in offered), None)
    if mechanism is None:
        raise _NoMechanism(" ".join(offered))
    user, secret = username.encode("utf-8"), password.encode("utf-8")
    if mechanism == "PLAIN":  # no authorisation identity: act as `user`
        code, reply = client.docmd("AUTH", "PLAIN " + _b64(b"\0" + user + b"\0" + secret))
        answers = []
    else:
        code, reply = client.docmd("AUTH", "LOGIN")
        answers = [user, secret]  # to the "Username:" and "Password:" challenges, in order
    while code == 334 and answers:
        code, reply = client.docmd(_b64(answers.pop(0)))
    if code == 334:  # it asks for more than the mechanism has: cancel (RFC 4954)
        client.docmd("*")
        raise smtplib.SMTPAuthenticationError(code, reply)
    if code in (235, 503):  # 503: this session is logged in already
        return
    if 400 <= code < 500:
        raise smtplib.SMTPResponseException(code, reply)
    raise smtplib.SMTPAuthenticationError(code, reply)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class FailureKind(StrEnum):
    """What a failed attempt means for the recipient and for the run."""

    TRANSIENT = "transient"  # try again
    PERMANENT = "permanent"  # this recipient is refused for good
    FATAL = "fatal"  # the whole run cannot go on (login, TLS, settings)
    UNKNOWN = "unknown"  # no reply once the whole message was out: it may have been delivered


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt to hand a message over."""

    kind: FailureKind
    detail: str  # the server's reply or the error, for the ledger and the operator
    connection: bool = False  # the connection itself failed, not one recipient
    login: bool = False  # the server refused the credentials: only new ones can help


def diagnose(exc: Exception, smtp: SmtpSection) -> Failure:
    """What an exception from smtplib (or the socket under it) means."""
    where = f"{smtp.host}:{smtp.port}"
    if isinstance(exc, _SettingsError):
        return Failure(FailureKind.FATAL, str(exc))
    if isinstance(exc, _NoFinalReply):
        return Failure(FailureKind.UNKNOWN, f"{where}: {exc}", connection=True)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return Failure(
            FailureKind.FATAL,
            f"{where} refused the login of {smtp.username!r}: {reply}",
            login=True,
        )
    if isinstance(exc, _NoMechanism):
        offered = f"it offers only {exc}" if str(exc) else "it offers no AUTH at all"
        return Failure(
            FailureKind.FATAL,
            f"{where} offers no login feeder can use (AUTH {' or '.join(MECHANISMS)}): "
            f"{offered}; check smtp.host, smtp.security and smtp.username",
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return Failure(
            FailureKind.FATAL, f"{where} does not support what smtp.security asks: {exc}"
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        kind = FailureKind.TRANSIENT if 400 <= code < 500 else FailureKind.PERMANENT
        return Failure(kind, f"recipient refused: {_reply(code, text)}")
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        if 400 <= exc.smtp_code < 500:
            return Failure(FailureKind.TRANSIENT, reply, connection=exc.smtp_code == 421)
        if isinstance(exc, smtplib.SMTPDataError):
            return Failure(FailureKind.PERMANENT, f"message refused: {reply}")
        return Failure(FailureKind.FATAL, f"{where} refused the session: {reply}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return Failure(
            FailureKind.TRANSIENT, f"{where} closed the connection: {exc}", connection=True
        )
    if isinstance(exc, ssl.SSLError):
        return Failure(FailureKind.FATAL, f"TLS with {where} failed: {exc}")
    if isinstance(exc, OSError):  # refused, reset, timed out
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        return Failure(FailureKind.TRANSIENT, f"{where}: {reason}", connection=True)
    return Failure(FailureKind.FATAL, f"{where}: {exc}")


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"


class _SettingsError(smtplib.SMTPException):
    """connect() refused the settings before talking to the server."""


class _NoMechanism(smtplib.SMTPException):
    """The server offers none of MECHANISMS; the message is the ones it does offer."""


class _NoFinalReply(smtplib.SMTPException):
    """The connection failed after the whole message was sent, before the server's answer.

    The server may have queued the message (RFC 5321 section 4.1.1.4 warns of duplicates
    here), so resending it on its own could mail the recipient twice.
    """


class Session:
    """One SMTP connection for the run, opened on first use and again after a failure."""

    def __init__(self, factory: SmtpFactory) -> None:
        self._factory = factory
        self._client: smtplib.SMTP | None = None

    def open(self) -> smtplib.SMTP:
        """The connection, connected, secured and logged in now if it was not."""
        if self._client is None:
            try:
                self._client = self._factory()
            except MailError as exc:  # the settings (no password…): nothing was sent
                raise _SettingsError(str(exc)) from None
        return self._client

    def send(self, from_addr: str, to_addr: str, data: bytes) -> None:
        client = self.open()
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
    """Spaces messages at least 1/per_second apart (smtp.max_per_second), across every
    connection of a run: each caller takes the next free slot, then waits for it."""

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
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            slot = now if self._next is None else max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            self._sleep(slot - now)


def open_session(
    session: Session, smtp: SmtpSection, sleep: Callable[[float], None]
) -> Failure | None:
    """Connect and log in, retried after BACKOFF while the failure is transient; None if open.

    Called before a recipient's row is claimed, so that a refused login or an unreachable
    server leaves every row pending, and none in doubt.
    """
    return _retried(session.open, session, smtp, sleep)


def deliver(
    session: Session,
    pacer: Pacer,
    from_addr: str,
    to_addr: str,
    data: bytes,
    smtp: SmtpSection,
    sleep: Callable[[float], None],
) -> Failure | None:
    """One message, retried after BACKOFF while the failure is transient; None if sent."""

    def attempt() -> None:
        pacer.wait()
        session.send(from_addr, to_addr, data)

    return _retried(attempt, session, smtp, sleep)


def _retried(
    attempt: Callable[[], object],
    session: Session,
    smtp: SmtpSection,
    sleep: Callable[[float], None],
) -> Failure | None:
    failure: Failure | None = None
    for delay in (0.0, *BACKOFF):
        if delay:
            sleep(delay)
        try:
            attempt()
            return None
        except (smtplib.SMTPException, OSError) as exc:
            failure = diagnose(exc, smtp)
        if failure.kind is not FailureKind.TRANSIENT:
            if failure.kind in (FailureKind.FATAL, FailureKind.UNKNOWN):
                session.drop()
            return failure
        session.drop()  # a fresh connection for the next attempt
    return failure


def send_now(
    factory: SmtpFactory, smtp: SmtpSection, from_addr: str, to_addr: str, data: bytes
) -> Failure | None:
    """One message on a connection of its own, tried once; None if the server took it.

    For a mail a person is waiting for (a sign-up's confirmation): retrying for half a
    minute would only stall their page, and they can ask again.
    """
    session = Session(factory)
    try:
        session.send(from_addr, to_addr, data)
        return None
    except (smtplib.SMTPException, OSError) as exc:
        return diagnose(exc, smtp)
    finally:
        session.close()
