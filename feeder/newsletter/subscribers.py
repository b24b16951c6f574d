"""Newsletter subscribers: checked addresses, and adding, removing and importing them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import getaddresses
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

from ..errors import MailError
from ..storage import Storage


def normalise_address(text: str) -> str:
    """A checked, normalised address (domain lower-cased, IDN in ASCII); MailError if bad.

    Addresses that need SMTPUTF8 (non-ASCII before the @) are refused: not every relay
    carries them.
    """
    try:
        info = validate_email(text.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise MailError(f"{text.strip()!r} is not a valid email address: {exc}") from None
    return info.ascii_email or info.normalized


def add_subscriber(
    storage: Storage, email: str, name: str = "", *, now: datetime
) -> tuple[str, bool]:
    """Subscribe an address: (the normalised address, False if it was subscribed already).

    A non-empty `name` replaces the stored one. MailError if the address is not valid.
    """
    address = normalise_address(email)
    with storage.transaction():
        return address, storage.add_subscriber(address, " ".join(name.split()), now)


def remove_subscriber(storage: Storage, email: str, *, now: datetime) -> tuple[str, bool]:
    """Unsubscribe an address: (the normalised address, False if it was not subscribed)."""
    address = normalise_address(email)
    with storage.transaction():
        return address, storage.remove_subscriber(address, now)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What `import_subscribers` did with each line of the file."""

    added: int  # addresses newly subscribed (or back after unsubscribing)
    already: int  # addresses that were subscribed already
    bad: tuple[tuple[int, str], ...]  # (line number, what was wrong) for each refused line


def import_subscribers(storage: Storage, path: Path, *, now: datetime) -> ImportReport:
    """Subscribe every address in a file (`addr` or `Name <addr>`, several a line with commas).

    Blank lines and lines starting with # are ignored. A bad line is reported by number
    and the good ones are still imported, all in one transaction.
    """
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise MailError(f"{path}: subscriber file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MailError(f"{path}: cannot read subscriber file: {exc}") from None
    return _import_lines(storage, lines, now)


def _import_lines(storage: Storage, lines: Iterable[str], now: datetime) -> ImportReport:
    added = already = 0
    bad: list[tuple[int, str]] = []
    with storage.transaction():
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            # A line may name several people ("Alice <a@x.org>, bob@y.org"): all of them are
            # subscribed, or, if one cannot be read, none and the line is reported.
            try:
                people = [
                    (" ".join(name.split()), normalise_address(address or line))
                    for name, address in getaddresses([line])
                ]
            except MailError as exc:
                bad.append((number, str(exc)))
                continue
            for name, email in people:
                if storage.add_subscriber(email, name, now):
                    added += 1
                else:
                    already += 1
    return ImportReport(added, already, tuple(bad))
