"""Subscribers' addresses and choices as people give them: an address checked and normalised,
a choice of sections, the lines of a subscriber file. Pure, but for reading that file."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from email.utils import getaddresses
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

from ..errors import AddressError, InputError, MailError
from ..model import Tag
from ..text import split_words

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


# -- Subscriber files ------------------------------------------------------------------

Person = tuple[str, str, Choice, bool]  # (name, address, sections, whether they were given)
Row = tuple[int, list[Person] | str]  # a line's people, or what was wrong with it


def subscriber_rows(path: Path, tags: Sequence[Tag]) -> list[Row]:
    """The people of a subscriber file, line by line, or what is wrong with each bad line.

    A CSV file whose first row names its columns (`email`, and optionally `name` and
    `tags`, the tag ids in one field) gives each address its sections. Any other file
    holds addresses (`addr` or `Name <addr>`, several a line with commas) that get every
    section. Blank lines and lines starting with # are ignored. MailError if the file
    cannot be read.
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
    return _csv_rows(numbered, tags) if _has_header(numbered) else _address_rows(numbered)


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
