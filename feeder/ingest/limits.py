"""The limits a corpus record must keep, the decoder that keeps them, and every message that
names a problem in the corpus: why a record was skipped, why a file could not be read."""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

from ..errors import CorpusError
from ..text import shorten

CHUNK = 1 << 16  # bytes read from the corpus at a time

# Real articles stay far below these: no nesting at all, no numbers, a few hundred KB at
# most. Each guards memory or time: a deep value costs a recursive walker its stack, and the
# decoder's int() its patience (quadratic in digits).
MAX_DEPTH = 64  # levels of objects and lists, the record itself being level 1
MAX_DIGITS = 1_000  # characters in one number
MAX_STRING = 10 << 20  # bytes of one string, key or value (as UTF-8)
MAX_RECORD = 16 << 20  # bytes of one record in the file
# Values (objects, lists, strings, numbers...) in one record: decoded, each small value takes
# 10 to 30 times its bytes, so that 16 MB of "{}," would take 800 MB.
MAX_VALUES = 100_000
ID_CHARS = 200  # an id (or top-level key) longer than this is not named in a warning


# -- Decoding one record within the limits ----------------------------------------------


class TooLong(Exception):
    """A number longer than MAX_DIGITS, raised from inside the decoder."""

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length


def _bounded_int(text: str) -> int:
    # The decoder hands every integer's text here before converting it: refuse a long one
    # before int() spends quadratic time on it (or refuses it, past 4,300 digits).
    if len(text) > MAX_DIGITS:
        raise TooLong(len(text))
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > MAX_DIGITS:
        raise TooLong(len(text))
    return float(text)


# Deep nesting needs no hook: the decoder recurses through Py_EnterRecursiveCall, so past
# about 1,000 levels it raises RecursionError, holding only what it built so far. A long
# number raises TooLong.
DECODER = json.JSONDecoder(parse_int=_bounded_int, parse_float=_bounded_float)
_SAFE_CHARS = MAX_STRING // 4  # a string this long or shorter is within MAX_STRING bytes


def over_limits(raw: dict[str, Any]) -> str | None:
    """Why a decoded record breaks a limit the decoder does not check, or None."""
    for key, value in raw.items():
        if len(key) > _SAFE_CHARS and utf8_size(key) > MAX_STRING:
            return string_problem(key, None, "a key")
        if isinstance(value, str):
            if len(value) > _SAFE_CHARS and utf8_size(value) > MAX_STRING:
                return string_problem(value, key)
        elif isinstance(value, dict | list):
            problem = _nested_problem(value, key)
            if problem is not None:
                return problem
    return None


def _nested_problem(top: dict[str, Any] | list[Any], key: str) -> str | None:
    """What is wrong with the value of the record's `key`, a list or an object, if anything."""
    # Iterative: a recursive walk is what a deep value breaks.
    stack: list[tuple[Any, int]] = [(top, 2)]
    while stack:
        value, level = stack.pop()
        if level > MAX_DEPTH:
            return depth_problem(key)
        if isinstance(value, dict):
            for inner in value:
                if len(inner) > _SAFE_CHARS and utf8_size(inner) > MAX_STRING:
                    return string_problem(inner, key, "a key")
            children = value.values()
        else:
            children = value
        for child in children:
            if isinstance(child, str):
                if len(child) > _SAFE_CHARS and utf8_size(child) > MAX_STRING:
                    return string_problem(child, key)
            elif isinstance(child, dict | list):
                stack.append((child, level + 1))
    return None


def may_hold_too_many_values(text: str | bytes, start: int = 0) -> bool:
    """Whether text[start:] may hold a record of more than MAX_VALUES values.

    Every value in a record but the record itself is the first in its list or object, or
    follows a comma: so no more values than these characters (counted in strings too).
    Each value takes two characters at least, so a short text needs no counting.
    """
    if len(text) - start <= 2 * MAX_VALUES:
        return False
    if isinstance(text, bytes):
        marks = text.count(b",", start) + text.count(b"[", start) + text.count(b"{", start)
    else:
        marks = text.count(",", start) + text.count("[", start) + text.count("{", start)
    return marks > MAX_VALUES


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


# -- Why a record is skipped ----------------------------------------------------------

NOT_UTF8 = "not UTF-8"
TOO_MANY_VALUES = "too many values"  # before the values were counted to say where
TOO_LARGE = "too large to hold"  # before its size was known


def _in(key: str | None) -> str:
    return "" if key is None else f" in {shorten(key, 40)!r}"


def depth_problem(key: str | None) -> str:
    return f"nested more than {MAX_DEPTH} levels deep{_in(key)}"


def number_problem(length: int, key: str | None) -> str:
    return f"a number of {length:,} digits{_in(key)} (at most {MAX_DIGITS:,})"


def string_problem(text: str, key: str | None, what: str = "a string") -> str:
    size = utf8_size(text)
    return f"{what} of {size:,} bytes{_in(key)} (at most {MAX_STRING >> 20} MB)"


def record_problem(size: int) -> str:
    return f"the record takes {size:,} bytes (at most {MAX_RECORD >> 20} MB)"


def values_problem(key: str | None) -> str:
    return f"more than {MAX_VALUES:,} values{_in(key)}"


def refusal(exc: RecursionError | TooLong) -> str:
    """What the decoder's refusal says of a record, before the record is followed to say
    where (the key) and how much."""
    return number_problem(exc.length, None) if isinstance(exc, TooLong) else depth_problem(None)


# -- Why a file is not read -----------------------------------------------------------

TRUNCATED = "the JSON array ends before it is closed (truncated, or still being written)"


def unreadable(path: Path, exc: OSError) -> CorpusError:
    """The error for a corpus file that the system would not read."""
    return CorpusError(f"{path}: cannot read corpus: {exc.strerror}")


def where(path: Path, offset: int) -> str:
    """Where a byte offset is, as " (line L, column C)"; "" if the file cannot be read."""
    line, column = 1, 0
    # Columns count characters; a newline byte never stands inside one, so the decoder
    # starts afresh after each. Read in chunks: the line may be the whole file.
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pos = 0
    try:
        with path.open("rb") as f:
            while pos < offset:
                chunk = f.read(min(CHUNK, offset - pos))
                if not chunk:
                    break
                pos += len(chunk)
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    line += chunk.count(b"\n")
                    decoder.reset()
                    column, chunk = 0, chunk[newline + 1 :]
                column += len(decoder.decode(chunk))
    except OSError:
        return ""
    column += len(decoder.decode(b"", final=True))
    return f" (line {line}, column {column + 1})"
