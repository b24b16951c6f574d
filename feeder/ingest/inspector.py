"""Following a record that cannot be decoded whole (nested too deep, a number too long, too
large to hold, too many values), piece by piece and holding none of it, to name and bound it."""

from __future__ import annotations

import json
import re

from .limits import (
    ID_CHARS,
    MAX_DEPTH,
    MAX_DIGITS,
    MAX_RECORD,
    MAX_VALUES,
    depth_problem,
    number_problem,
    record_problem,
    utf8_size,
    values_problem,
)
from .normalise import ID, clean_line

_TOKEN = re.compile(r'["\[\]{}:,]')
# The rest of a JSON string up to its closing quote (or to the end of the text): runs of
# plain characters and escapes, possessive so that a long string costs no backtracking.
_STRING_BODY = re.compile(r'[^"\\]*+(?:\\.[^"\\]*+)*+', re.DOTALL)
_NUMERIC_ID = re.compile(r"-?[0-9]{1,30}")


class Inspector:
    """Follows one record: where it ends, how deep it goes, its longest number, how many
    values it holds, the top-level key where each is, and its id.

    It tracks only strings and brackets, and does not check the rest of the syntax: the
    record is skipped either way.
    """

    def __init__(self) -> None:
        self.size = 0  # bytes seen, counted by the caller
        self.depth = 0
        self.deepest: tuple[int, str | None] = (0, None)  # level, top-level key
        self.longest: tuple[int, str | None] = (0, None)  # characters of a number, key
        self.key: str | None = None  # the top-level key whose value is being read
        self.in_value = False  # at the top level, between ":" and the next "," or "}"
        self.in_string = False
        self.string: str | None = None  # the string being read, while short enough to keep
        self.last: str | None = None  # the last short top-level string: a key if ":" follows
        self.run = 0  # characters outside strings since the last token: a number, say
        self.scalar = ""  # the start of a top-level value that is not a string
        self.ident: str | None = None
        self.values = 0  # values inside the record, counted by the commas and brackets
        self.crowded: str | None = None  # the top-level key where values passed MAX_VALUES

    def feed(self, text: str, i: int) -> tuple[bool, int]:
        """Read text[i:]. (True, the index just past the record) if it ends in the text,
        else (False, the index to go on from when more text has been appended)."""
        n = len(text)
        while i < n:
            if self.in_string:
                j = _STRING_BODY.match(text, i).end()  # type: ignore[union-attr]
                if self.string is not None:
                    kept = len(self.string) + j - i <= ID_CHARS
                    self.string = self.string + text[i:j] if kept else None
                if j == n or text[j] == "\\":  # the text ends, maybe inside an escape
                    return False, j
                self.in_string = False
                i = j + 1
                if self._string_ended():
                    return True, i
                continue
            match = _TOKEN.search(text, i)
            end = n if match is None else match.start()
            if end > i:
                gap = text[i:end].strip()  # a number, a literal, or nothing
                self.run += len(gap)
                if self.depth == 1 and self.in_value and len(self.scalar) < 40:
                    self.scalar += gap[:40]
            if match is None:
                return False, n
            token = text[end]
            i = end + 1
            if self.run > self.longest[0]:
                self.longest = (self.run, self.key)
            self.run = 0
            if token == '"':
                self.in_string, self.string = True, ""
            elif token in "[{":
                if self.depth:
                    self._count_value()
                self.depth += 1
                if self.depth > self.deepest[0]:
                    self.deepest = (self.depth, self.key)
            elif self.depth == 0:  # "]" or "," or ":" after a top-level number: its end
                return True, end
            elif token in "]}":
                if self.depth == 1:
                    self._value_ended()
                self.depth -= 1
                if self.depth == 0:
                    return True, i
            elif token == ":":
                if self.depth == 1:
                    self.key, self.in_value, self.scalar = self.last, True, ""
            else:  # ","
                self._count_value()
                if self.depth == 1:
                    self._value_ended()
        return False, n

    def _count_value(self) -> None:
        self.values += 1
        if self.values == MAX_VALUES + 1:
            self.crowded = self.key

    def _string_ended(self) -> bool:
        if self.depth == 0:
            return True
        if self.depth == 1:
            text = _json_string(self.string)
            if not self.in_value:
                self.last = text
            elif self.key == ID and self.ident is None and text is not None:
                self.ident = clean_line(text) or None
        return False

    def _value_ended(self) -> None:
        if self.key == ID and self.ident is None and _NUMERIC_ID.fullmatch(self.scalar):
            self.ident = self.scalar
        self.in_value, self.scalar = False, ""

    def reason(self, cause: str) -> str:
        """What is wrong with the record; `cause` if nothing seen here says more."""
        if self.size > MAX_RECORD:
            return record_problem(self.size)
        level, key = self.deepest
        if level > MAX_DEPTH:
            return depth_problem(key)
        length, key = max(self.longest, (self.run, self.key), key=lambda found: found[0])
        if length > MAX_DIGITS:
            return number_problem(length, key)
        if self.values > MAX_VALUES:
            return values_problem(self.crowded)
        return cause


def inspect_whole(text: str) -> Inspector:
    """Follow a whole record held in `text` (one JSON Lines line, within MAX_RECORD)."""
    inspector = Inspector()
    inspector.feed(text, 0)
    inspector.size = utf8_size(text)
    return inspector


def _json_string(body: str | None) -> str | None:
    """A JSON string's text from its body as written (escapes and all), if it decodes."""
    if body is None:
        return None
    try:
        value = json.loads(f'"{body}"')
    except ValueError:
        return None
    return value if isinstance(value, str) else None
