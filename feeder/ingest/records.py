"""What reading the corpus takes and gives: the Part read, a Record or a Skipped for each
record, the Tail where the read stopped; and what one decoded record becomes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .digests import digest
from .limits import ID_CHARS, over_limits
from .normalise import ID, clean_line, kind_of


@dataclass(frozen=True, slots=True)
class Part:
    """A byte range of the corpus that can be read on its own, e.g. by another process."""

    start: int = 0  # first byte
    end: int | None = None  # one past the last byte; None for the end of the file
    wrap: bool = False  # a slice out of a JSON array's middle: read as "[" + slice + "]"
    first_number: int = 0  # JSON Lines: lines before `start`, so line numbers stay true


WHOLE = Part()  # the whole file as one part


@dataclass(frozen=True, slots=True)
class Record:
    """One record as read, before normalising: enough to tell whether it changed."""

    position: int  # record number in an array, line number in JSON Lines (1-based, in its part)
    id: str  # the record's id, cleaned
    digest: str  # of the record's fields as read: equal digests, nothing to do
    raw: dict[str, Any]  # the record itself, normalised by to_article() when needed


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record that could not be read; the others are still ingested."""

    position: int  # 1-based record number in an array, line number in JSON Lines
    id: str | None  # the record's id, when it had a readable one
    reason: str  # what was wrong, naming the field

    def describe(self, path: Path) -> str:
        where = (
            f"record {self.position}"
            if self.id is None
            else (f"record {self.position} (id {self.id!r})")
        )
        return f"{path}: {where} skipped: {self.reason}"


@dataclass(frozen=True, slots=True)
class Tail:
    """Where a read stopped: JSON Lines can resume from `offset` on the next poll."""

    offset: int  # bytes of the file that were read completely
    lines: int  # JSON Lines: lines (blank or not) before `offset`; an array: its records
    incomplete: bool  # the file ended in a partial line that was left for later


def checked(value: Any, position: int) -> Record | Skipped:
    """A decoded value as a Record, or a Skipped naming what is wrong with it."""
    if isinstance(value, dict):
        problem = over_limits(value)
        if problem is not None:
            return Skipped(position, shown_id(value), problem)
    return identify(value, position)


def identify(raw: Any, position: int) -> Record | Skipped:
    """A decoded value within the limits as a Record: its id and digest; or a Skipped."""
    if not isinstance(raw, dict):
        return Skipped(position, None, f"not an object but {kind_of(raw)}")
    ident = _id_of(raw)
    if not ident:
        return Skipped(position, None, f"no id ({ID} missing, empty or not a string)")
    return Record(position, ident, digest(raw), raw)


def shown_id(raw: Any) -> str | None:
    """The id of a record being skipped, if it is short enough to name in a warning."""
    ident = raw.get(ID) if isinstance(raw, dict) else None
    if isinstance(ident, str) and len(ident) > ID_CHARS:
        return None
    return _id_of(raw) or None


def _id_of(raw: Any) -> str:
    """The record's id, cleaned; "" if it has none that can be read."""
    ident = raw.get(ID) if isinstance(raw, dict) else None
    if isinstance(ident, int) and not isinstance(ident, bool):
        ident = str(ident)
    return clean_line(ident) if isinstance(ident, str) else ""
