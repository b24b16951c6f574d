"""Reading a JSON array, or a part of one, record by record: each record cut out of the text
and decoded on its own within the limits; one that cannot be held is followed instead."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Generator
from pathlib import Path
from typing import IO, NoReturn

from ..errors import CorpusError
from .inspector import Inspector
from .limits import (
    CHUNK,
    DECODER,
    MAX_RECORD,
    MAX_VALUES,
    NOT_UTF8,
    TOO_LARGE,
    TOO_MANY_VALUES,
    TRUNCATED,
    TooLong,
    may_hold_too_many_values,
    record_problem,
    refusal,
    unreadable,
    utf8_size,
    where,
)
from .records import Part, Record, Skipped, checked, shown_id

_SPACE = re.compile(r"[ \t\r\n]*")
_FIRST_SPACE = re.compile(r"[ \t\r\n\ufeff]*")  # the file may open with a byte-order mark
# What the text ends in, from where the decoder stopped, when a record was cut by the end
# of the text read so far: a literal or a number it could not finish, or a \u escape (the
# decoder points at its "u", and wants a character after it to look for a surrogate pair).
_CUT_VALUE = re.compile(
    r"(?:t(?:r(?:u)?)?|f(?:a(?:l(?:s)?)?)?|n(?:u(?:l)?)?|-?[0-9]*(?:\.[0-9]*)?"
    r"(?:[eE][-+]?[0-9]*)?|u[0-9a-fA-F]{0,4})[ \t\r\n]*"
)
# A character decoded from a byte that is not UTF-8 (the decoder's "surrogateescape").
# Escapes such as "\udc80" in a JSON string are written in ASCII, so never match.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


class ArrayReader:
    """Cuts a JSON array, or a part of one, into records and decodes each on its own.

    The text read so far is kept from the start of the record being read, so memory is
    one record (at most MAX_RECORD) plus a chunk; a larger record is followed by an
    Inspector, which holds none of it. A long record that may hold more than MAX_VALUES
    values is counted by an Inspector before it is decoded.
    """

    def __init__(
        self, path: Path, f: IO[bytes], part: Part, progress: Callable[[int], None] | None
    ) -> None:
        self.path, self.f, self.part, self.progress = path, f, part, progress
        self.left = None if part.end is None else part.end - part.start
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        # A slice keeps the array's own "[" if it starts the file, its "]" if it ends it.
        self.text = "[" if part.wrap and part.start > 0 else ""
        self.pos = 0  # where reading goes on in self.text
        self.fed = 0  # bytes of the file handed to the decoder
        self.eof = False
        self.added_end = False  # a "]" not in the file closes self.text
        self.dirty = False  # some byte was not UTF-8: records must be checked for one
        # Whether self.text, from where it was first asked, may hold a record of too many
        # values: asked once for what is read, not once for each record.
        self.crowded: bool | None = None

    def records(self) -> Generator[Record | Skipped, None, int]:
        """Each record in file order; returns how many there were."""
        self._skip(_FIRST_SPACE)
        if self._peek() != "[":  # detect_format saw "[" a moment ago: the file changed
            self._fail("not a JSON array of articles")
        self.pos += 1
        self._skip(_SPACE)
        if self._peek() == "]":
            self.pos += 1
            self._expect_end()
            return 0
        position = 0
        while True:
            position += 1
            yield self._record(position)
            self._skip(_SPACE)
            following = self._peek()
            if following == ",":
                self.pos += 1
                self._skip(_SPACE)
                continue
            if following == "]":
                self.pos += 1
                self._expect_end()
                return position
            if following is None:
                self._fail(TRUNCATED, len(self.text))
            self._fail("invalid JSON: expected , or ] after a record")

    def _record(self, position: int) -> Record | Skipped:
        counted = False  # the record is held whole and has no more than MAX_VALUES values
        while True:
            start = self.pos
            if not counted and self._crowded(start):
                found = self._count(position)
                if isinstance(found, Skipped):
                    return found
                counted = True
                continue
            try:
                value, end = DECODER.raw_decode(self.text, start)
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or _CUT_VALUE.fullmatch(
                    self.text, exc.pos
                )
                if not cut:
                    self._fail(f"invalid JSON: {exc.msg}", exc.pos)
                if self._grow():
                    continue
                if self.eof:
                    self._fail(TRUNCATED, len(self.text))
                return self._follow(position, TOO_LARGE)
            except (RecursionError, TooLong) as exc:
                return self._follow(position, refusal(exc))
            # A value that ends where the text does may go on (a number, in a bad corpus).
            if end == len(self.text) and self._grow():
                continue
            break
        self.pos = end
        if end - start > MAX_RECORD // 4:
            size = utf8_size(self.text[start:end])
            if size > MAX_RECORD:
                return Skipped(position, shown_id(value), record_problem(size))
        if self.dirty and _NOT_UTF8.search(self.text, start, end):
            return Skipped(position, shown_id(value), NOT_UTF8)
        return checked(value, position)

    def _grow(self) -> bool:
        """Read more for the record at self.pos: False at the end of the file, or when the
        record already holds more than MAX_RECORD (then it is followed, not held)."""
        held = len(self.text) - self.pos
        if held > MAX_RECORD // 4 and utf8_size(self.text[self.pos :]) > MAX_RECORD:
            return False
        # Double what is held, so that a long record is decoded O(1) times over, but stop
        # about where MAX_RECORD is reached.
        return self._read(max(CHUNK, min(held, MAX_RECORD - held)))

    def _crowded(self, start: int) -> bool:
        if len(self.text) - start <= 2 * MAX_VALUES:  # the common case: nothing to count
            return False
        if self.crowded is None:
            self.crowded = may_hold_too_many_values(self.text, start)
        return self.crowded

    def _count(self, position: int) -> Skipped | None:
        """Before decoding the record at self.pos, read it whole and count its values with an
        Inspector: None if it may be decoded, else a Skipped (too many values, too large)."""
        inspector = Inspector()
        at = self.pos
        while True:
            done, end = inspector.feed(self.text, at)
            inspector.size += utf8_size(self.text[at:end])
            if done:
                if inspector.values <= MAX_VALUES:
                    return None
                self.pos = end
                return Skipped(position, inspector.ident, inspector.reason(TOO_MANY_VALUES))
            offset = end - self.pos  # kept across _grow, which moves the record to 0
            if not self._grow():
                if self.eof:
                    self._fail(TRUNCATED, len(self.text))
                return self._follow(position, TOO_LARGE, inspector, end)
            at = self.pos + offset

    def _follow(
        self, position: int, cause: str, inspector: Inspector | None = None, at: int = -1
    ) -> Skipped:
        """Skip the record at self.pos (an Inspector already at `at` goes on from there);
        the Skipped says what was wrong."""
        inspector = inspector or Inspector()
        at = self.pos if at < 0 else at
        while True:
            done, end = inspector.feed(self.text, at)
            inspector.size += utf8_size(self.text[at:end])
            self.pos = end  # what was inspected is let go
            if done:
                return Skipped(position, inspector.ident, inspector.reason(cause))
            if not self._read(CHUNK):
                self._fail(TRUNCATED, len(self.text))
            at = self.pos

    def _read(self, size: int) -> bool:
        """Append about `size` more bytes of the part to self.text, letting go of what is
        before self.pos. False once the part is read."""
        if self.eof:
            return False
        if self.left is not None:
            size = min(size, self.left)
        try:
            data = self.f.read(size) if size > 0 else b""
        except OSError as exc:
            raise unreadable(self.path, exc) from None
        self.fed += len(data)
        if self.left is not None:
            self.left -= len(data)
        if self.progress is not None and data:
            self.progress(len(data))
        final = not data
        try:
            piece = self.decoder.decode(data, final)
        except UnicodeDecodeError:
            # Bytes that are not UTF-8: decode them to stand-ins that _NOT_UTF8 finds, so
            # the record holding them is skipped and the others are read.
            self.decoder.errors = "surrogateescape"
            self.dirty = True
            piece = self.decoder.decode(data, final)
        if final:
            self.eof = True
            if self.part.wrap and self.part.end is not None:
                piece += "]"
                self.added_end = True
        self.text = self.text[self.pos :] + piece
        self.pos = 0
        self.crowded = None
        return bool(data or piece)

    def _peek(self) -> str | None:
        while self.pos >= len(self.text):
            if not self._read(CHUNK):
                return None
        return self.text[self.pos]

    def _skip(self, space: re.Pattern[str]) -> None:
        while True:
            self.pos = space.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text) or not self._read(CHUNK):
                return

    def _expect_end(self) -> None:
        self._skip(_SPACE)
        if self._peek() is not None:
            self._fail("invalid JSON: more data after the end of the array")

    def _fail(self, what: str, index: int | None = None) -> NoReturn:
        """Raise CorpusError naming the place in the file of self.text[index]."""
        index = self.pos if index is None else index
        # Count back from what the decoder has turned into text: only the tail is encoded.
        pending = len(self.decoder.getstate()[0])
        rest = len(self.text[index:].encode("utf-8", "surrogateescape"))
        if self.added_end and index < len(self.text):
            rest -= 1
        offset = self.part.start + max(self.fed - pending - rest, 0)
        raise CorpusError(f"{self.path}: {what}{where(self.path, offset)}")
