"""Reading JSON Lines, or a part of them, one record a line within the limits; a last line
still being written is left for the next read."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from pathlib import Path
from typing import IO

from ..errors import CorpusError
from .inspector import inspect_whole
from .limits import (
    CHUNK,
    DECODER,
    MAX_RECORD,
    MAX_VALUES,
    NOT_UTF8,
    TOO_MANY_VALUES,
    TooLong,
    may_hold_too_many_values,
    record_problem,
    refusal,
    unreadable,
)
from .records import Part, Record, Skipped, Tail, checked


def read_lines(
    path: Path, f: IO[bytes], part: Part, progress: Callable[[int], None] | None
) -> Generator[Record | Skipped, None, Tail]:
    """Each record of the part, `f` standing at its start; returns where the read stopped."""
    offset, number = part.start, part.first_number
    left = None if part.end is None else part.end - part.start
    while left is None or left > 0:
        try:
            raw_line, size, record_size, complete = _next_line(f)
        except OSError as exc:
            raise unreadable(path, exc) from None
        if not size:
            break
        if left is not None:
            left -= size
        if progress is not None:
            progress(size)
        if record_size > MAX_RECORD:
            if not complete:  # still being written: read it (and skip it) next time
                return Tail(offset=offset, lines=number, incomplete=True)
            number += 1
            offset += size
            head = raw_line.decode("utf-8", "replace")
            yield Skipped(number, inspect_whole(head).ident, record_problem(record_size))
            continue
        text = raw_line.strip()
        if not text:
            if complete:
                offset += size
                number += 1
            continue
        if may_hold_too_many_values(text):
            inspector = inspect_whole(text.decode("utf-8", "replace"))
            if inspector.values > MAX_VALUES:
                if not complete:
                    return Tail(offset=offset, lines=number, incomplete=True)
                number += 1
                offset += size
                yield Skipped(number, inspector.ident, inspector.reason(TOO_MANY_VALUES))
                continue
        try:
            value = DECODER.decode(text.decode("utf-8", "surrogatepass").lstrip("\ufeff"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if not complete:
                # A last line without its newline is being written: read it next time.
                return Tail(offset=offset, lines=number, incomplete=True)
            number += 1
            offset += size
            reason = (
                f"invalid JSON at column {exc.colno}: {exc.msg}"
                if isinstance(exc, json.JSONDecodeError)
                else NOT_UTF8
            )
            if number == 1 and part.start == 0:
                _reject_whole_document(path)
            yield Skipped(number, inspect_whole(text.decode("utf-8", "replace")).ident, reason)
            continue
        except (RecursionError, TooLong) as exc:
            if not complete:  # as above: the rest of the line may be on its way
                return Tail(offset=offset, lines=number, incomplete=True)
            number += 1
            offset += size
            inspector = inspect_whole(text.decode("utf-8", "replace"))
            yield Skipped(number, inspector.ident, inspector.reason(refusal(exc)))
            continue
        number += 1
        offset += size
        yield checked(value, number)
    return Tail(offset=offset, lines=number, incomplete=False)


def _next_line(f: IO[bytes]) -> tuple[bytes, int, int, bool]:
    """The next line: its bytes (only the first MAX_RECORD + 3 of a longer one, the rest
    read past and let go), its size, the size of the record on it (the line without its
    line break), and whether it ends in a newline."""
    line = f.readline(MAX_RECORD + 3)
    size, end = len(line), line[-2:]
    if size == MAX_RECORD + 3 and not line.endswith(b"\n"):
        while not end.endswith(b"\n"):
            rest = f.readline(CHUNK)
            if not rest:
                break
            size += len(rest)
            end = (end + rest)[-2:]
    complete = end.endswith(b"\n")
    return line, size, size - (2 if end == b"\r\n" else 1 if complete else 0), complete


def _reject_whole_document(path: Path) -> None:
    """A first line that is not JSON may be a pretty-printed single object: say so."""
    try:
        if path.stat().st_size > MAX_RECORD:  # a document that large is not one article
            return
        data = path.read_bytes()
        if may_hold_too_many_values(data):
            return
        text = data.decode("utf-8", "surrogatepass").lstrip("\ufeff")
        value = DECODER.decode(text)
    except (ValueError, RecursionError, TooLong, OSError):
        return
    kind = type(value).__name__ if not isinstance(value, dict) else "a single object"
    raise CorpusError(
        f"{path}: not a list of articles: the file holds {kind} "
        "(expected a JSON array of article objects, or one object per line) (line 1, column 1)"
    )
