"""A reader's sign-up on the web: confirmed by mail (double opt-in), at most one mail per
address per MAIL_INTERVAL, and an outcome the caller cannot tell apart: whether the address
was new, waiting for its confirmation or subscribed already, the page says the same."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import make_msgid
from enum import StrEnum

from ..config import Config
from ..errors import MailError
from ..model import Subscriber, SubscriberStatus, Tag
from ..site import page_url
from ..storage import Storage
from ..templating import Templates
from ..tokens import CONFIRM_DAYS, Purpose, mint, new_ref
from .copies import Signer
from .message import sender
from .smtp import SmtpFactory, connect, send_now, smtp_password
from .subscribers import Choice, choose_tags, normalise_address

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


def sign_up(
    storage: Storage,
    config: Config,
    secret: bytes,
    email: str,
    ids: Iterable[str],
    tags: Sequence[Tag],
    *,
    now: datetime,
    smtp_factory: SmtpFactory | None = None,
    signer: Signer | None = None,
) -> None:
    """Sign `email` up for the sections `ids`, as a web form asks.

    AddressError or InputError for what the form cannot hold; MailError when the mail
    server does not take the mail (the address may then ask again at once).
    """
    address = normalise_address(email)
    chosen = choose_tags(ids, tags)
    with storage.transaction():
        # Sign-ups nobody confirmed in time are erased: they never agreed to be kept.
        storage.purge_pending(now - timedelta(days=CONFIRM_DAYS))
        subscriber = storage.subscriber(address) or storage.add_subscriber(
            address, "", SubscriberStatus.PENDING, new_ref(), now
        )
        before = storage.mailed_at(address)
        kind = mail_to_send(subscriber, before, now)
        if kind is None:
            return
        storage.set_mailed_at(address, now)  # before sending: two requests send one mail
    message = sign_up_mail(kind, subscriber, chosen, config, secret, tags, now)
    factory = smtp_factory or (lambda: connect(config.smtp, smtp_password()))
    failure = send_now(
        factory, config.smtp, message["From"].addresses[0].addr_spec, address, message.as_bytes()
    )
    if failure is not None:
        with storage.transaction():
            storage.set_mailed_at(address, before)
        raise MailError(f"the mail server did not take the sign-up mail: {failure.detail}")


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
