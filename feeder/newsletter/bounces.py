"""Bounce reports: reading delivery status notifications (RFC 3464) from an mbox file or a
Maildir folder, and which recipients they say refuse mail for good (jobs/people.py marks
those subscribers).

The send marks an address bounced itself when the server it talks to refuses it (5xx), but
most refusals come later, by mail, from a server further on: those are what this reads.
Only reports with a message/delivery-status part are believed. A free-text bounce ("I'm
sorry to have to inform you…") is reported as unreadable rather than guessed at: a guess
that read an address and a "550" in an auto-reply or a reader's quoted error would cut
someone off the list.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..errors import MailError

# A report's delivery-status part comes before the returned copy of the message, so a cut
# at 1 MiB keeps it while a multi-megabyte returned message cannot exhaust memory.
MAX_MESSAGE = 1 << 20
FIELD_CHARS = 300  # a longer recipient or diagnostic is cut: they come from strangers
DSN_PART = "message/delivery-status"  # RFC 3464: the machine-readable part of a report


@dataclass(frozen=True, slots=True)
class Bounce:
    """One recipient a report says failed or was delayed."""

    recipient: str  # the address as the report names it, not yet checked
    hard: bool  # failed with a 5.x.x status: the address refuses mail for good
    status: str  # the enhanced status code, "5.1.1"; "" if the report gives none
    diagnostic: str  # the remote server's words, on one line; may be empty
    source: str  # where the report was read, "mbox message 3"


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A message that is not a usable report, and why."""

    source: str
    reason: str


class BounceOutcome(StrEnum):
    """What an import did with one reported recipient."""

    MARKED = "marked"  # a hard bounce of an active subscriber: now bounced
    INACTIVE = "inactive"  # a hard bounce of a subscriber not active (bounced already, left…)
    SOFT = "soft"  # a delay or a temporary failure of a subscriber: reported only
    UNMATCHED = "unmatched"  # not a valid address, or nobody subscribed with it


@dataclass(frozen=True, slots=True)
class Matched:
    """One reported recipient and what was done."""

    bounce: Bounce
    address: str | None  # the subscriber's address; None when unmatched
    outcome: BounceOutcome


@dataclass(frozen=True, slots=True)
class BounceReport:
    """What `import_bounces` read and did, per recipient, in the order read."""

    messages: int  # messages read, unreadable ones included
    matched: tuple[Matched, ...]
    unreadable: tuple[Unreadable, ...]

    def count(self, outcome: BounceOutcome) -> int:
        return sum(1 for m in self.matched if m.outcome is outcome)

    def summary(self) -> str:
        return (
            f"{self.messages} messages: {self.count(BounceOutcome.MARKED)} marked bounced, "
            f"{self.count(BounceOutcome.INACTIVE)} hard bounces of addresses not active, "
            f"{self.count(BounceOutcome.SOFT)} soft (reported only), "
            f"{self.count(BounceOutcome.UNMATCHED)} unmatched, {len(self.unreadable)} unreadable"
        )


class NotAReport(ValueError):
    """A message holding no failed or delayed recipient; the text says why."""


# -- Reading reports (pure) ----------------------------------------------------------------


def parse_report(data: bytes, source: str) -> tuple[Bounce, ...]:
    """The failed and delayed recipients that one delivery status notification names.

    NotAReport if it has no message/delivery-status part, or one that names no failed or
    delayed recipient (a report of success, say).
    """
    # compat32, not policy.default: the default policy parses every header it is asked for
    # into objects, and a hostile one (60,000 encoded words, 60,000 Content-Type
    # parameters) took minutes and gigabytes; here fields are read as the text they are.
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    parts = [p for p in message.walk() if p.get_content_type() == DSN_PART]
    if not parts:
        raise NotAReport("not a delivery status notification (no message/delivery-status part)")
    bounces = tuple(
        bounce
        for part in parts
        for block in _blocks(part)
        if (bounce := _bounce(_fields(block), source)) is not None
    )
    if not bounces:
        raise NotAReport("names no failed or delayed recipient")
    return bounces


def _blocks(part: Message) -> list[Message]:
    """The part's blocks of fields: the email package parses message/delivery-status into
    one header-only message per block, the per-message one first."""
    payload = part.get_payload()
    return [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []


def _fields(block: Message) -> dict[str, str]:
    """A block's fields by lower-case name (the first of each), each on one line and cut
    to FIELD_CHARS; bytes that are not UTF-8 become U+FFFD."""
    fields: dict[str, str] = {}
    for name, value in block.raw_items():
        raw = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        fields.setdefault(name.lower(), " ".join(raw.split())[:FIELD_CHARS])
    return fields


def _bounce(fields: dict[str, str], source: str) -> Bounce | None:
    """A per-recipient block as a Bounce; None for the per-message block and for recipients
    reported delivered, relayed or expanded."""
    # Original-Recipient is the address as we gave it at RCPT TO; Final-Recipient may be
    # where a forward or an alias led, which no subscriber has.
    named = fields.get("original-recipient") or fields.get("final-recipient", "")
    action = fields.get("action", "").lower()
    if not named or action not in ("failed", "delayed"):
        return None
    address_type, semicolon, address = named.partition(";")  # "rfc822; ann@example.org"
    status = fields.get("status", "").partition(" ")[0]  # "5.1.1 (bad mailbox)": 5.1.1
    return Bounce(
        recipient=(address if semicolon else address_type).strip().strip("<>"),
        hard=action == "failed" and status.startswith("5."),
        status=status,
        diagnostic=fields.get("diagnostic-code", ""),
        source=source,
    )


# -- Reading a mailbox ---------------------------------------------------------------------


def read_bounces(path: Path) -> tuple[int, list[Bounce], list[Unreadable]]:
    """Every report in an mbox file or a Maildir folder: (messages read, the recipients
    they name, the messages that are not usable reports). One bad message is reported and
    the others are still read. MailError if `path` is neither or cannot be read."""
    count = 0
    found: list[Bounce] = []
    unreadable: list[Unreadable] = []
    for source, data in _messages(path):
        count += 1
        if isinstance(data, Unreadable):
            unreadable.append(data)
            continue
        try:
            found += parse_report(data, source)
        except NotAReport as exc:
            unreadable.append(Unreadable(source, str(exc)))
        except Exception as exc:  # hostile input: whatever the parser trips on, go on
            unreadable.append(Unreadable(source, f"cannot be parsed ({type(exc).__name__})"))
    return count, found, unreadable


def _messages(path: Path) -> Iterator[tuple[str, bytes | Unreadable]]:
    """(where, its first MAX_MESSAGE bytes) for each message, in the mailbox's order."""
    box, kind = _open(path)
    try:
        try:
            keys = sorted(box.keys())  # mbox: positions; Maildir: file names, sorted for order
        except OSError as exc:
            raise MailError(f"{path}: cannot read: {exc.strerror or exc}") from None
        for number, key in enumerate(keys, 1):
            source = f"mbox message {number}" if kind == "mbox" else f"Maildir message {key}"
            try:
                with box.get_file(key) as file:
                    data: bytes | Unreadable = file.read(MAX_MESSAGE)
            except (OSError, KeyError) as exc:  # a Maildir file removed meanwhile, say
                data = Unreadable(source, f"cannot be read: {exc}")
            yield source, data
    finally:
        box.close()


def _open(path: Path) -> tuple[mailbox.Mailbox[Any], str]:
    """The mailbox at `path`: a Maildir (a folder with cur/ and new/) or an mbox file (one
    that starts with a "From " line, or is empty)."""
    try:
        if path.is_dir():
            if not ((path / "cur").is_dir() and (path / "new").is_dir()):
                raise MailError(f"{path}: a folder but not a Maildir (it has no cur/ and new/)")
            return mailbox.Maildir(path, factory=None, create=False), "maildir"
        with path.open("rb") as file:
            start = file.read(5)
        if start not in (b"", b"From "):
            raise MailError(f'{path}: not an mbox file (it does not start with a "From " line)')
        return mailbox.mbox(path, create=False), "mbox"
    except FileNotFoundError:
        raise MailError(f"{path}: not found; give an mbox file or a Maildir folder") from None
    except OSError as exc:
        raise MailError(f"{path}: cannot read: {exc.strerror or exc}") from None


def bounce_detail(bounce: Bounce) -> str:
    """Why a bounced address was marked, as the state keeps it (see bounce_of)."""
    return f"bounce report ({bounce.source}): {bounce.status} {bounce.diagnostic}".strip()
