"""The readers' own changes, through the subscriber pages and their signed links: sign up
(double opt-in), confirm, choose sections, unsubscribe; and the secret that signs the links
and the forms. Like the operator's changes, each is one transaction and takes no job lock.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..config import Config
from ..environment import SECRET
from ..errors import ConfigError, MailError, TokenError, TokenProblem
from ..model import Subscriber, SubscriberStatus, Tag
from ..newsletter.addresses import choose_tags, normalise_address
from ..newsletter.signup import mail_to_send, sign_up_mail
from ..newsletter.smtp import connect, send_now, smtp_password
from ..site import page_url
from ..storage.mail_stores import NonceStore, SubscriberStore
from ..storage.stores import MetaStore
from ..tokens import CONFIRM_DAYS, Purpose, confirmation_expired, mint, new_ref, read
from .mailing import Outbox
from .people import leave

SECRET_KEY = "secret"  # meta: the generated secret, when $FEEDER_SECRET gives none
MIN_SECRET = 16  # characters of $FEEDER_SECRET
FORM_MAX_AGE = timedelta(hours=2)  # how long a web form may be filled in
PERSONAL_PAGES = (Purpose.PREFERENCES, Purpose.UNSUBSCRIBE)  # in PersonalLinks' order


@dataclass(frozen=True, slots=True)
class PersonalLinks:
    """A subscriber's own pages, as absolute URLs."""

    preferences: str
    unsubscribe: str


def secret(store: MetaStore) -> bytes:
    """What signs the subscribers' links and the web forms: $FEEDER_SECRET, else one
    generated on first use and kept in the state (readable by its owner only)."""
    given = SECRET.read() or ""
    if given and len(given) < MIN_SECRET:
        raise ConfigError(f"${SECRET.name} is too short: give at least {MIN_SECRET} characters")
    if not given:
        with store.transaction():
            given = store.get_meta(SECRET_KEY) or ""
            if not given:
                given = secrets.token_hex(32)
                store.set_meta(SECRET_KEY, given)
    return given.encode("utf-8")


def sign_up(
    store: SubscriberStore,
    config: Config,
    outbox: Outbox,
    email: str,
    ids: Iterable[str],
    tags: Sequence[Tag],
    *,
    now: datetime,
) -> None:
    """Sign `email` up for the sections `ids`, as a web form asks: mail it a confirmation,
    or, if it is active already, its preferences link. The caller cannot tell which: the
    page says the same whether the address was new, waiting or subscribed.

    AddressError or InputError for what the form cannot hold; MailError when the mail
    server does not take the mail (the address may then ask again at once).
    """
    address = normalise_address(email)
    chosen = choose_tags(ids, tags)
    with store.transaction():
        # Sign-ups nobody confirmed in time are erased: they never agreed to be kept.
        store.purge_pending(now - timedelta(days=CONFIRM_DAYS))
        subscriber = store.subscriber(address) or store.add_subscriber(
            address, "", SubscriberStatus.PENDING, new_ref(), now
        )
        before = store.mailed_at(address)
        kind = mail_to_send(subscriber, before, now)
        if kind is None:
            return
        store.set_mailed_at(address, now)  # before sending: two requests send one mail
    message = sign_up_mail(kind, subscriber, chosen, config, outbox.secret, tags, now)
    factory = outbox.smtp_factory or (lambda: connect(config.smtp, smtp_password()))
    failure = send_now(
        factory, config.smtp, message["From"].addresses[0].addr_spec, address, message.as_bytes()
    )
    if failure is not None:
        with store.transaction():
            store.set_mailed_at(address, before)
        raise MailError(f"the mail server did not take the sign-up mail: {failure.detail}")


def confirm(
    store: SubscriberStore, secret: bytes, token: str, tags: Sequence[Tag], *, now: datetime
) -> Subscriber:
    """Activate the sign-up a confirmation link names, with the sections chosen in its form.

    An address that is active already stays as it is. TokenError if the link is not ours,
    names nobody, is over CONFIRM_DAYS old or older than the address's last change.
    """
    claim = read(secret, Purpose.CONFIRM, token)
    with store.transaction():
        subscriber = _named(store, claim.ref)
        if subscriber.active:
            return subscriber
        if confirmation_expired(claim, now, subscriber.since):
            raise TokenError(
                TokenProblem.EXPIRED, "this confirmation link has expired; sign up again"
            )
        known = {tag.id for tag in tags}
        chosen = None if claim.tags is None else [t for t in claim.tags if t in known]
        store.set_subscriber_tags(
            subscriber.email, None if not chosen else choose_tags(chosen, tags)
        )
        store.set_status(subscriber.email, SubscriberStatus.ACTIVE, now)
        return _named(store, claim.ref)


def subscriber_for(
    store: SubscriberStore, secret: bytes, token: str, purpose: Purpose
) -> Subscriber:
    """The subscriber a preferences or unsubscribe link names; TokenError if none."""
    return _named(store, read(secret, purpose, token).ref)


def set_tags(
    store: SubscriberStore,
    secret: bytes,
    token: str,
    ids: Iterable[str],
    tags: Sequence[Tag],
    *,
    now: datetime,
) -> Subscriber:
    """Change the sections a preferences link's subscriber gets. Saving them also brings back
    one who had left: the link proves the mailbox is theirs."""
    claim = read(secret, Purpose.PREFERENCES, token)
    chosen = choose_tags(ids, tags)
    with store.transaction():
        subscriber = _named(store, claim.ref)
        store.set_subscriber_tags(subscriber.email, chosen)
        store.set_status(subscriber.email, SubscriberStatus.ACTIVE, now)
        return _named(store, claim.ref)


def unsubscribe_by_token(
    store: SubscriberStore, secret: bytes, token: str, purpose: Purpose, *, now: datetime
) -> Subscriber:
    """Unsubscribe whom a preferences or unsubscribe link names (again is harmless)."""
    if purpose is Purpose.CONFIRM:
        raise TokenError(TokenProblem.BAD, "a confirmation link cannot unsubscribe")
    claim = read(secret, purpose, token)
    with store.transaction():
        subscriber = _named(store, claim.ref)
        leave(store, subscriber.email, now)
        return _named(store, claim.ref)


def _named(store: SubscriberStore, ref: str) -> Subscriber:
    subscriber = store.subscriber_by_ref(ref)
    if subscriber is None:
        raise TokenError(TokenProblem.UNKNOWN, "this link's subscription no longer exists")
    return subscriber


def personal_links(base_url: str, secret: bytes, subscriber: Subscriber) -> PersonalLinks:
    """The subscriber's own preferences and unsubscribe pages."""
    ref = subscriber.ref
    return PersonalLinks(*(page_url(base_url, p, mint(secret, p, ref)) for p in PERSONAL_PAGES))


def spend_form_nonce(store: NonceStore, nonce: str, now: datetime) -> bool:
    """Record a web form's nonce as used: False if it was (a replayed form)."""
    with store.transaction():
        return store.spend_nonce(nonce, now, now - FORM_MAX_AGE)
