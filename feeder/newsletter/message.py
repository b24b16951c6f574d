"""One recipient's copy of an issue as a MIME message: headers, both parts, stable bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import parseaddr

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


def build_message(
    rendered: Rendered,
    key: str,
    recipient: Recipient,
    config: Config,
    *,
    now: datetime,
    unsubscribe: str,
) -> EmailMessage:
    """One recipient's copy of an issue: multipart/alternative, text then HTML, UTF-8.

    `unsubscribe` is the recipient's own unsubscribe page; List-Unsubscribe names it first,
    then newsletter.unsubscribe (a mailto: for readers whose client prefers mail). When it
    is https, List-Unsubscribe-Post offers RFC 8058's one-click POST to that same URL.
    """
    source = sender(config)
    message = EmailMessage(policy=SMTP_POLICY)
    message["Subject"] = rendered.subject
    message["From"] = source
    username, domain = recipient.email.rsplit("@", 1)
    message["To"] = Address(display_name=recipient.name, username=username, domain=domain)
    message["Date"] = now
    message["Message-ID"] = message_id(key, recipient.email, source.domain)
    message["List-Id"] = f"{config.newsletter.title} <{source.username}.{source.domain}>"
    fallback = config.newsletter.unsubscribe
    message["List-Unsubscribe"] = ", ".join(f"<{url}>" for url in (unsubscribe, fallback) if url)
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
