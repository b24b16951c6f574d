"""The operator's changes to the subscribers, each one transaction: add, remove, erase, bring
back a bounced address, import a file of addresses, import bounce reports.

None takes the job lock: each touches only the subscribers table and nothing in out/, and an
unsubscribe during a long send must not wait for it (the send rechecks each recipient just
before their message, and honours it at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..errors import AddressError
from ..model import SubscriberStatus, Tag
from ..newsletter.addresses import Choice, choose_tags, normalise_address, subscriber_rows
from ..newsletter.bounces import (
    BounceOutcome,
    BounceReport,
    Matched,
    bounce_detail,
    read_bounces,
)
from ..storage.mail_stores import SubscriberStore
from ..tokens import new_ref


def subscribe(
    store: SubscriberStore,
    email: str,
    name: str,
    tags: Sequence[str] | None,
    known: Sequence[Tag],
    *,
    now: datetime,
) -> tuple[str, bool]:
    """Subscribe an address, active at once (the operator vouches for it): (the normalised
    address, False if it was active already). `tags` chooses its sections among the `known`
    tags (None: a new address gets every section, a known one keeps its choice)."""
    chosen = None if tags is None else choose_tags(tags, known)
    return add_subscriber(store, email, name, now=now, tags=chosen, set_tags=tags is not None)


def add_subscriber(
    store: SubscriberStore,
    email: str,
    name: str = "",
    *,
    now: datetime,
    tags: Choice = None,
    set_tags: bool = False,
) -> tuple[str, bool]:
    """Subscribe an address at once: (the normalised address, False if it was active
    already). A non-empty `name` replaces the stored one; with `set_tags` the choice of
    sections becomes `tags`, else a new address gets everything."""
    address = normalise_address(email)
    with store.transaction():
        return address, activate(store, address, " ".join(name.split()), now, tags, set_tags)


def activate(
    store: SubscriberStore, address: str, name: str, now: datetime, tags: Choice, set_tags: bool
) -> bool:
    """Make `address` active, inside the caller's transaction; True if it was not before."""
    if store.subscriber(address) is None:
        store.add_subscriber(address, name, SubscriberStatus.ACTIVE, new_ref(), now)
        store.set_subscriber_tags(address, tags)
        return True
    if name:
        store.set_subscriber_name(address, name)
    if set_tags:
        store.set_subscriber_tags(address, tags)
    return store.set_status(address, SubscriberStatus.ACTIVE, now)


def remove_subscriber(store: SubscriberStore, email: str, *, now: datetime) -> tuple[str, bool]:
    """Unsubscribe an address: (the normalised address, False if it was not subscribed)."""
    address = normalise_address(email)
    with store.transaction():
        return address, leave(store, address, now)


def leave(store: SubscriberStore, address: str, now: datetime) -> bool:
    """Unsubscribe `address`, inside the caller's transaction; False if it had left or was
    never stored."""
    subscriber = store.subscriber(address)
    if subscriber is None or subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        return False
    return store.set_status(address, SubscriberStatus.UNSUBSCRIBED, now)


def reactivate_subscriber(store: SubscriberStore, email: str, *, now: datetime) -> tuple[str, bool]:
    """Make a bounced address active again, its bounce and soft-failure count cleared:
    (the normalised address, False if it was not bounced)."""
    address = normalise_address(email)
    with store.transaction():
        return address, store.reactivate(address, now)


def forget_subscriber(store: SubscriberStore, email: str) -> tuple[str, bool]:
    """Erase an address and its delivery history (an erasure request): (the normalised
    address, False if nothing was stored). Its links stop working at once."""
    address = normalise_address(email)
    with store.transaction():
        return address, store.forget_subscriber(address)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What `import_subscribers` did with each line of the file."""

    added: int  # addresses newly subscribed (or back after unsubscribing)
    already: int  # addresses that were subscribed already
    bad: tuple[tuple[int, str], ...]  # (line number, what was wrong) for each refused line


def import_subscribers(
    store: SubscriberStore, path: Path, tags: Sequence[Tag], *, now: datetime
) -> ImportReport:
    """Subscribe every address in a file (see addresses.subscriber_rows), active at once,
    all in one transaction. A bad line is reported by number and the good ones are still
    imported."""
    rows = subscriber_rows(path, tags)  # before the transaction: file I/O
    added = already = 0
    bad: list[tuple[int, str]] = []
    with store.transaction():
        for number, people in rows:
            if isinstance(people, str):
                bad.append((number, people))
                continue
            for name, email, choice, given in people:
                if activate(store, email, name, now, choice, given):
                    added += 1
                else:
                    already += 1
    return ImportReport(added, already, tuple(bad))


def import_bounces(store: SubscriberStore, path: Path, *, now: datetime) -> BounceReport:
    """Read the reports at `path` and mark the active subscribers that hard-bounced as
    bounced, in one transaction. Soft bounces change nothing: the send counts its own soft
    failures, issue by issue, and a delay notice is no failure yet. Running it again on the
    same mail changes nothing more."""
    messages, found, unreadable = read_bounces(path)  # before the transaction: file I/O
    matched: list[Matched] = []
    with store.transaction():
        for bounce in found:
            address = _stored_address(store, bounce.recipient)
            if address is None:
                outcome = BounceOutcome.UNMATCHED
            elif not bounce.hard:
                outcome = BounceOutcome.SOFT
            elif store.mark_bounced(address, bounce_detail(bounce), now):
                outcome = BounceOutcome.MARKED
            else:
                outcome = BounceOutcome.INACTIVE
            matched.append(Matched(bounce, address, outcome))
    return BounceReport(messages, tuple(matched), tuple(unreadable))


def _stored_address(store: SubscriberStore, recipient: str) -> str | None:
    """The stored address of the subscriber `recipient` names, or None."""
    try:
        address = normalise_address(recipient)
    except AddressError:
        return None
    subscriber = store.subscriber(address)
    return None if subscriber is None else subscriber.email
