"""The mail a reader's sign-up on the web sends: a confirmation (double opt-in), or the
preferences link for an address subscribed already, at most one per address per
MAIL_INTERVAL. The sign-up itself is jobs/readers.py's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import make_msgid
from enum import StrEnum

from ..config import Config
from ..model import Subscriber, Tag
from ..site import page_url
from ..templating import Templates
from ..tokens import CONFIRM_DAYS, Purpose, mint
from .addresses import Choice
from .message import sender

MAIL_INTERVAL = timedelta(minutes=10)


class SignUpMail(StrEnum):
    """Which mail a sign-up sends."""

    CONFIRM = "confirm"  # a new, waiting or departed address: confirm the chosen sections
    PREFERENCES = "preferences"  # an active address: its preferences page, nothing changes


def mail_to_send(
    subscriber: Subscriber, mailed_at: datetime | None, now: datetime
) -> SignUpMail | None:
    """The mail a sign-up of `subscriber` sends now; None within MAIL_INTERVAL of the last."""
    if mailed_at is not None and now - mailed_at < MAIL_INTERVAL:
        return None
    return SignUpMail.PREFERENCES if subscriber.active else SignUpMail.CONFIRM


def sign_up_mail(
    kind: SignUpMail,
    subscriber: Subscriber,
    chosen: Choice,
    config: Config,
    secret: bytes,
    tags: Sequence[Tag],
    now: datetime,
) -> EmailMessage:
    """The confirmation (or, for an active address, the preferences link) as plain text."""
    base, title = config.output.base_url, config.newsletter.title
    source = sender(config)
    labels = [tag.label for tag in tags if chosen is None or tag.id in chosen]
    context = {
        "title": title,
        "sections": "、".join(labels) + ("及其他" if chosen is None else ""),
        "days": CONFIRM_DAYS,
        "sender_address": source.addr_spec,
        "confirm_url": page_url(
            base,
            Purpose.CONFIRM,
            mint(secret, Purpose.CONFIRM, subscriber.ref, tags=chosen, issued=now),
        ),
        "preferences_url": page_url(
            base, Purpose.PREFERENCES, mint(secret, Purpose.PREFERENCES, subscriber.ref)
        ),
    }
    template = f"signup-{kind}.txt.j2"
    body = Templates(config.newsletter.templates).render(template, context, what="sign-up mail")
    message = EmailMessage(policy=SMTP_POLICY)
    message["Subject"] = (
        f"请确认订阅{title}" if kind is SignUpMail.CONFIRM else f"管理你的{title}订阅"
    )
    message["From"] = source
    username, domain = subscriber.email.rsplit("@", 1)
    message["To"] = Address(username=username, domain=domain)
    message["Date"] = now
    message["Message-ID"] = make_msgid(domain=source.domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it, please
    message.set_content(body, subtype="plain", charset="utf-8", cte="base64")
    return message
