"""Newsletter subscribers: checked addresses, choices of sections, and every change a person
or the operator makes to them, each one transaction."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import getaddresses
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

from ..errors import AddressError, InputError, MailError, TokenError, TokenProblem
from ..model import Subscriber, SubscriberStatus, Tag
from ..storage import Storage
from ..text import split_words
from ..tokens import Purpose, confirmation_expired, new_ref, read

Choice = tuple[str, ...] | None  # chosen tag ids in taxonomy order; None: everything


def normalise_address(text: str) -> str:
    """A checked, normalised address (domain lower-cased, IDN in ASCII); AddressError if bad.

    Addresses that need SMTPUTF8 (non-ASCII before the @) are refused: not every relay
    carries them.
    """
    try:
        info = validate_email(text.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise AddressError(f"{text.strip()!r} is not a valid email address: {exc}") from None
    return info.ascii_email or info.normalized


def choose_tags(ids: Iterable[str], tags: Sequence[Tag]) -> Choice:
    """A person's choice of sections as stored: the ids in taxonomy order, or None when they
    chose every tag (they then get 其他 too, and any tag the taxonomy gains later).

    InputError for an unknown id or an empty choice.
    """
    wanted = {i.strip() for i in ids if i.strip()}
    known = [tag.id for tag in tags]
    unknown = sorted(wanted - set(known))
    if unknown:
        raise InputError(f"unknown section {unknown[0]!r}; the sections are {', '.join(known)}")
    if not wanted:
        raise InputError("choose at least one section")
    if wanted == set(known):
        return None
    return tuple(tag for tag in known if tag in wanted)


# -- The operator's changes ----------------------------------------------------------------


def add_subscriber(
    storage: Storage,
    email: str,
    name: str = "",
    *,
    now: datetime,
    tags: Choice = None,
    set_tags: bool = False,
) -> tuple[str, bool]:
    """Subscribe an address at once (the operator vouches for it): (the normalised address,
    False if it was active already). A non-empty `name` replaces the stored one; with
    `set_tags` the choice of sections becomes `tags`, else a new address gets everything.
    """
    address = normalise_address(email)
    with storage.transaction():
        return address, _activate(storage, address, " ".join(name.split()), now, tags, set_tags)


def _activate(
    storage: Storage, address: str, name: str, now: datetime, tags: Choice, set_tags: bool
) -> bool:
    """Make `address` active; True if it was not active before."""
    if storage.subscriber(address) is None:
        storage.add_subscriber(address, name, SubscriberStatus.ACTIVE, new_ref(), now)
        storage.set_subscriber_tags(address, tags)
        return True
    if name:
        storage.set_subscriber_name(address, name)
    if set_tags:
        storage.set_subscriber_tags(address, tags)
    return storage.set_status(address, SubscriberStatus.ACTIVE, now)


def remove_subscriber(storage: Storage, email: str, *, now: datetime) -> tuple[str, bool]:
    """Unsubscribe an address: (the normalised address, False if it was not subscribed)."""
    address = normalise_address(email)
    with storage.transaction():
        return address, _leave(storage, address, now)


def _leave(storage: Storage, address: str, now: datetime) -> bool:
    subscriber = storage.subscriber(address)
    if subscriber is None or subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        return False
    return storage.set_status(address, SubscriberStatus.UNSUBSCRIBED, now)


def reactivate_subscriber(storage: Storage, email: str, *, now: datetime) -> tuple[str, bool]:
    """Make a bounced address active again, its bounce and soft-failure count cleared:
    (the normalised address, False if it was not bounced)."""
    address = normalise_address(email)
    with storage.transaction():
        return address, storage.reactivate(address, now)


def forget_subscriber(storage: Storage, email: str) -> tuple[str, bool]:
    """Erase an address and its delivery history (an erasure request): (the normalised
    address, False if nothing was stored). Its links stop working at once."""
    address = normalise_address(email)
    with storage.transaction():
        return address, storage.forget_subscriber(address)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What `import_subscribers` did with each line of the file."""

    added: int  # addresses newly subscribed (or back after unsubscribing)
    already: int  # addresses that were subscribed already
    bad: tuple[tuple[int, str], ...]  # (line number, what was wrong) for each refused line


def import_subscribers(
    storage: Storage, path: Path, tags: Sequence[Tag], *, now: datetime
) -> ImportReport:
    """Subscribe every address in a file, active at once, all in one transaction.

    A CSV file whose first row names its columns (`email`, and optionally `name` and
    `tags`, the tag ids in one field) gives each address its sections. Any other file
    holds addresses (`addr` or `Name <addr>`, several a line with commas) that get every
    section. Blank lines and lines starting with # are ignored. A bad line is reported by
    number and the good ones are still imported.
    """
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise MailError(f"{path}: subscriber file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MailError(f"{path}: cannot read subscriber file: {exc}") from None
    numbered = [
        (number, line.strip())
        for number, line in enumerate(lines, 1)
        if line.strip() and not line.strip().startswith("#")
    ]
    rows = _csv_rows(numbered, tags) if _has_header(numbered) else _address_rows(numbered)
    added = already = 0
    bad: list[tuple[int, str]] = []
    with storage.transaction():
        for number, people in rows:
            if isinstance(people, str):
                bad.append((number, people))
                continue
            for name, email, choice, given in people:
                if _activate(storage, email, name, now, choice, given):
                    added += 1
                else:
                    already += 1
    return ImportReport(added, already, tuple(bad))


Person = tuple[str, str, Choice, bool]  # (name, address, sections, whether they were given)
Row = tuple[int, list[Person] | str]  # a line's people, or what was wrong with it


def _has_header(numbered: list[tuple[int, str]]) -> bool:
    if not numbered:
        return False
    first = next(csv.reader([numbered[0][1]]), [])
    return bool(first) and first[0].strip().lower() == "email"


def _csv_rows(numbered: list[tuple[int, str]], tags: Sequence[Tag]) -> list[Row]:
    header = [cell.strip().lower() for cell in next(csv.reader([numbered[0][1]]))]
    rows: list[Row] = []
    for number, line in numbered[1:]:
        cells = dict(zip(header, next(csv.reader([line]), []), strict=False))
        try:
            address = normalise_address(cells.get("email", ""))
            given = bool(cells.get("tags", "").strip())
            choice = choose_tags(split_words(cells["tags"]), tags) if given else None
        except InputError as exc:
            rows.append((number, str(exc)))
            continue
        rows.append((number, [(" ".join(cells.get("name", "").split()), address, choice, given)]))
    return rows


def _address_rows(numbered: list[tuple[int, str]]) -> list[Row]:
    rows: list[Row] = []
    for number, line in numbered:
        # A line may name several people ("Alice <a@x.org>, bob@y.org"): all of them are
        # subscribed, or, if one cannot be read, none and the line is reported.
        try:
            people: list[Person] = [
                (" ".join(name.split()), normalise_address(address or line), None, False)
                for name, address in getaddresses([line])
            ]
        except MailError as exc:
            rows.append((number, str(exc)))
            continue
        rows.append((number, people))
    return rows


# -- The reader's own changes, through signed links ----------------------------------------


def confirm(
    storage: Storage, secret: bytes, token: str, tags: Sequence[Tag], *, now: datetime
) -> Subscriber:
    """Activate the sign-up a confirmation link names, with the sections chosen in its form.

    An address that is active already stays as it is. TokenError if the link is not ours,
    names nobody, is over CONFIRM_DAYS old or older than the address's last change.
    """
    claim = read(secret, Purpose.CONFIRM, token)
    with storage.transaction():
        subscriber = _named(storage, claim.ref)
        if subscriber.active:
            return subscriber
        if confirmation_expired(claim, now, subscriber.since):
            raise TokenError(
                TokenProblem.EXPIRED, "this confirmation link has expired; sign up again"
            )
        known = {tag.id for tag in tags}
        chosen = None if claim.tags is None else [t for t in claim.tags if t in known]
        storage.set_subscriber_tags(
            subscriber.email, None if not chosen else choose_tags(chosen, tags)
        )
        storage.set_status(subscriber.email, SubscriberStatus.ACTIVE, now)
        return _named(storage, claim.ref)


def subscriber_for(storage: Storage, secret: bytes, token: str, purpose: Purpose) -> Subscriber:
    """The subscriber a preferences or unsubscribe link names; TokenError if none."""
    return _named(storage, read(secret, purpose, token).ref)


def set_tags(
    storage: Storage,
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
    with storage.transaction():
        subscriber = _named(storage, claim.ref)
        storage.set_subscriber_tags(subscriber.email, chosen)
        storage.set_status(subscriber.email, SubscriberStatus.ACTIVE, now)
        return _named(storage, claim.ref)


def unsubscribe_by_token(
    storage: Storage, secret: bytes, token: str, purpose: Purpose, *, now: datetime
) -> Subscriber:
    """Unsubscribe whom a preferences or unsubscribe link names (again is harmless)."""
    if purpose is Purpose.CONFIRM:
        raise TokenError(TokenProblem.BAD, "a confirmation link cannot unsubscribe")
    claim = read(secret, purpose, token)
    with storage.transaction():
        subscriber = _named(storage, claim.ref)
        _leave(storage, subscriber.email, now)
        return _named(storage, claim.ref)


def _named(storage: Storage, ref: str) -> Subscriber:
    subscriber = storage.subscriber_by_ref(ref)
    if subscriber is None:
        raise TokenError(TokenProblem.UNKNOWN, "this link's subscription no longer exists")
    return subscriber
