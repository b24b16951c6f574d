"""Signed links for the subscriber pages: what a token in a URL says, and whether we said it.

A token names a subscriber by a random reference, never by the address, and is signed with
the installation's secret and salted with its purpose, so that an unsubscribe link cannot
open the preferences page and a tampered one opens nothing. Preferences and unsubscribe
links never expire (an old mail must still let its reader leave) and are the same every time
they are made, so a resumed send mails the same bytes. A confirmation link carries the
sections chosen in the form and when it was made, and expires after CONFIRM_DAYS.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from itsdangerous import BadData, URLSafeSerializer

from .errors import TokenError, TokenProblem

CONFIRM_DAYS = 7
MAX_TOKEN = 512  # characters; ours are about 60 (120 for a confirmation)


class Purpose(StrEnum):
    """Which page a token opens; also the path of that page under the base URL."""

    CONFIRM = "confirm"
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"


@dataclass(frozen=True, slots=True)
class Claim:
    """What a valid token says."""

    ref: str  # the subscriber's reference
    tags: tuple[str, ...] | None = None  # a confirmation: the sections chosen (None: all)
    issued: datetime | None = None  # a confirmation: when it was made


def new_ref() -> str:
    """A fresh subscriber reference: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


def mint(
    secret: bytes,
    purpose: Purpose,
    ref: str,
    *,
    tags: tuple[str, ...] | None = None,
    issued: datetime | None = None,
) -> str:
    """A token for `purpose`; a confirmation needs `issued` (and carries `tags`)."""
    signer = _signer(secret, purpose)
    if purpose is Purpose.CONFIRM:
        if issued is None:
            raise ValueError("a confirmation token needs the time it is issued")
        return signer.dumps([ref, None if tags is None else list(tags), int(issued.timestamp())])
    return signer.dumps(ref)


def read(secret: bytes, purpose: Purpose, token: str) -> Claim:
    """What `token` says; TokenError(BAD) unless we signed it for this purpose."""
    bad = TokenError(TokenProblem.BAD, f"this {purpose} link is not valid")
    if len(token) > MAX_TOKEN:
        raise bad
    try:
        payload = _signer(secret, purpose).loads(token)
    except (BadData, UnicodeError, ValueError):
        raise bad from None
    if purpose is not Purpose.CONFIRM:
        if not isinstance(payload, str):
            raise bad
        return Claim(payload)
    match payload:
        case [str(ref), None, int(stamp)]:
            return Claim(ref, None, datetime.fromtimestamp(stamp, UTC))
        case [str(ref), list(tags), int(stamp)] if all(isinstance(t, str) for t in tags):
            return Claim(ref, tuple(tags), datetime.fromtimestamp(stamp, UTC))
    raise bad


def confirmation_expired(claim: Claim, now: datetime, since: datetime) -> bool:
    """A confirmation is stale after CONFIRM_DAYS, or once the address changed status after it
    was made (an old link must not bring back someone who has since left)."""
    assert claim.issued is not None
    return now - claim.issued > timedelta(days=CONFIRM_DAYS) or claim.issued < since


def _signer(secret: bytes, purpose: Purpose) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=f"feeder.{purpose}")
