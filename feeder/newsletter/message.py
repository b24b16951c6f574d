"""One recipient's copy of an issue as a MIME message: headers, both parts, stable bytes."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr

from ..config import Config
from ..errors import MailError
from .render import Rendered


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


class Skeleton:
    """What every copy of one edition shares, serialised once: the folded Subject, From,
    Date and List-Id, and the MIME framing. `copy` adds a recipient's headers and parts.

    Written out here rather than by the email package for two reasons. Speed: the package
    folds and encodes every header of every copy again (about 2.5 ms a copy here, the
    whole send's floor). And List-Unsubscribe: the package folds a header line with a long
    URL into RFC 2047 encoded words, which no mail client reads as a URL, so the one-click
    unsubscribe would not show; here it is folded only between its entries.
    """

    def __init__(self, rendered: Rendered, key: str, config: Config, now: datetime) -> None:
        source = sender(config)
        self._key, self._domain = key, source.domain
        self._list_unsubscribe = config.newsletter.unsubscribe
        # Not random: the same edition gives the same bytes. "=_" never starts a base64
        # line, so the boundary cannot occur in the parts.
        seed = f"{key}\0{rendered.subject}\0{rendered.text}\0{rendered.html}"
        self._boundary = "=_" + hashlib.sha256(seed.encode()).hexdigest()[:32]
        self._subject_from = _fold("Subject", rendered.subject) + _fold("From", str(source))
        self._date = _fold("Date", format_datetime(now))
        self._list_id = _fold(
            "List-Id", f"{config.newsletter.title} <{source.username}.{source.domain}>"
        )

    def copy(self, rendered: Rendered, recipient: Recipient, unsubscribe: str) -> bytes:
        """One recipient's copy of `rendered` (this edition, their links filled in): CRLF,
        ASCII, multipart/alternative with the text part, then the HTML, both base64 UTF-8.

        `unsubscribe` is the recipient's own unsubscribe page; List-Unsubscribe names it
        first, then newsletter.unsubscribe (a mailto: for clients that prefer mail). When it
        is https, List-Unsubscribe-Post offers RFC 8058's one-click POST to that same URL.
        """
        username, domain = recipient.email.rsplit("@", 1)
        to = Address(display_name=recipient.name, username=username, domain=domain)
        targets = [f"<{url}>" for url in (unsubscribe, self._list_unsubscribe) if url]
        lines = [
            self._subject_from,
            _fold("To", str(to)),
            self._date,
            f"Message-ID: {message_id(self._key, recipient.email, self._domain)}\r\n",
            self._list_id,
            "List-Unsubscribe: " + ",\r\n ".join(targets) + "\r\n",
        ]
        if unsubscribe.startswith("https://"):  # RFC 8058 one-click needs an https URL
            lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        boundary = self._boundary
        lines += [
            "MIME-Version: 1.0\r\n",
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n',
            "\r\n",
            _part(boundary, "plain", rendered.text),
            _part(boundary, "html", rendered.html),
            f"--{boundary}--\r\n",
        ]
        return "".join(lines).encode("ascii")


def _fold(name: str, value: str) -> str:
    """One header as the SMTP policy folds it (encoded words for non-ASCII), CRLF-ended."""
    return str(SMTP_POLICY.header_factory(name, value).fold(policy=SMTP_POLICY))


def _part(boundary: str, subtype: str, body: str) -> str:
    # base64: a third bigger than Chinese UTF-8, where quoted-printable would triple it.
    # Text goes with CRLF line ends, its canonical form (RFC 2045).
    data = body.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    encoded = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
    return (
        f"--{boundary}\r\n"
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        f"\r\n{encoded}\r\n"
    )


def message_bytes(
    rendered: Rendered,
    key: str,
    recipient: Recipient,
    config: Config,
    *,
    now: datetime,
    unsubscribe: str,
) -> bytes:
    """One recipient's copy of an issue, as mailed (see Skeleton.copy). For many copies of
    one edition, make its Skeleton once instead."""
    return Skeleton(rendered, key, config, now).copy(rendered, recipient, unsubscribe)
