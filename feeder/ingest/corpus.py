"""Reading the corpus: a JSON array or JSON Lines file, record by record, with the position
of each and a digest that tells whether it changed; cut a large file into parts.

Each record is cut out of the file here and parsed on its own by the standard library's
decoder, within limits a real article never reaches (nesting, number length, string and
record size). A record past a limit is skipped and named, and every other record is read.
The decoder reports the two dangerous shapes, deep nesting and long numbers, as exceptions;
a record too large to hold is read past without being kept. No parser that can crash the
process on such input (ijson's C backend segfaults on a long number) is ever used.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn
from zoneinfo import ZoneInfo

from ..errors import CorpusError
from ..model import Article, CorpusFormat
from ..schedule import ARTICLE_YEARS
from ..text import shorten
from .normalise import FIELDS, ID, BadRecord, clean_line, kind_of, normalise

CHUNK = 1 << 16

# The limits a record must keep. Real articles stay far below them: no nesting at all, no
# numbers, a few hundred KB at most. Each guards memory or time: a deep value costs a
# recursive walker its stack, and the decoder's int() its patience (quadratic in digits).
MAX_DEPTH = 64  # levels of objects and lists, the record itself being level 1
MAX_DIGITS = 1_000  # characters in one number
MAX_STRING = 10 << 20  # bytes of one string, key or value (as UTF-8)
MAX_RECORD = 16 << 20  # bytes of one record in the file
# Values (objects, lists, strings, numbers...) in one record: decoded, each small value takes
# 10 to 30 times its bytes, so that 16 MB of "{}," would take 800 MB.
MAX_VALUES = 100_000


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


_LEADING_SPACE = b" \t\r\n\xef\xbb\xbf"  # white space, and the bytes of a byte-order mark


def detect_format(path: Path) -> CorpusFormat:
    """ARRAY or JSONL, from the first character that is not white space."""
    skipped = 0
    try:
        with path.open("rb") as f:
            while True:
                chunk = f.read(4096)
                if not chunk:
                    raise CorpusError(
                        f"{path}: the file is empty (expected a JSON array of articles)"
                    )
                stripped = chunk.lstrip(_LEADING_SPACE)
                if stripped:
                    skipped += len(chunk) - len(stripped)
                    break
                skipped += len(chunk)
    except FileNotFoundError:
        raise CorpusError(f"{path}: corpus file not found") from None
    except IsADirectoryError:
        raise CorpusError(f"{path}: is a folder, not a corpus file") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read corpus: {exc.strerror}") from None
    first = stripped[:1]
    if first == b"[":
        return CorpusFormat.ARRAY
    if first == b"{":
        return CorpusFormat.JSONL
    # The file may be anything the path was pointed at (/etc/shadow, say): name the place,
    # never the bytes.
    raise CorpusError(
        f"{path}: not a JSON array or JSON Lines of articles: its first byte that is not "
        f"white space (byte {skipped}) is not [ or {{{_where(path, skipped)}"
    )


@dataclass(frozen=True, slots=True)
class Record:
    """One record as read, before normalising: enough to tell whether it changed."""

    position: int  # record number in an array, line number in JSON Lines (1-based, in its part)
    id: str  # the record's id, cleaned
    digest: str  # of the record's fields as read: equal digests, nothing to do
    raw: dict[str, Any]  # the record itself, normalised by to_article() when needed


@dataclass(frozen=True, slots=True)
class Part:
    """A byte range of the corpus that can be read on its own, e.g. by another process."""

    start: int = 0  # first byte
    end: int | None = None  # one past the last byte; None for the end of the file
    wrap: bool = False  # a slice out of a JSON array's middle: read as "[" + slice + "]"
    first_number: int = 0  # JSON Lines: lines before `start`, so line numbers stay true


def read_records(
    path: Path, part: Part = Part(), progress: Callable[[int], None] | None = None
) -> Generator[Record | Skipped, None, Tail]:
    """Yield each record of `part` in file order, as a Record or a Skipped.

    Raises CorpusError when the file as a whole cannot be read; records already yielded
    must then be discarded by the caller. Returns a Tail: where a JSON Lines reader may
    resume next time.
    """
    fmt = detect_format(path)
    try:
        f = path.open("rb")
        f.seek(part.start)
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read corpus: {exc.strerror}") from None
    with f:
        if fmt is CorpusFormat.ARRAY:
            records = yield from _ArrayReader(path, f, part, progress).records()
            return Tail(offset=f.tell(), lines=records, incomplete=False)
        return (yield from _read_lines(path, f, part, progress))


def to_article(record: Record, tz: ZoneInfo, years: tuple[int, int] = ARTICLE_YEARS) -> Article:
    """Normalise a record; BadRecord names the field that is wrong."""
    return normalise(record.raw, record.id, tz, years)


def scan(
    path: Path,
    tz: ZoneInfo,
    *,
    start: int = 0,
    start_line: int = 0,
    progress: Callable[[int], None] | None = None,
    years: tuple[int, int] = ARTICLE_YEARS,
) -> Generator[Article | Skipped, None, Tail]:
    """Yield each record as an Article or a Skipped, in file order; see read_records()."""
    records = read_records(path, Part(start, first_number=start_line), progress)
    while True:
        try:
            item = next(records)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if isinstance(item, Skipped):
            yield item
            continue
        try:
            yield to_article(item, tz, years)
        except BadRecord as exc:
            yield Skipped(item.position, item.id, str(exc))


def read_articles(
    path: Path,
    tz: ZoneInfo,
    warn: Callable[[str], None] = lambda _msg: None,
    years: tuple[int, int] = ARTICLE_YEARS,
) -> Iterator[Article]:
    """The articles of a corpus file; each skipped record is reported through `warn`."""
    for item in scan(path, tz, years=years):
        if isinstance(item, Skipped):
            warn(item.describe(path))
        else:
            yield item


def split(path: Path, parts: int) -> list[Part]:
    """Cut the file into about `parts` byte ranges that can each be read on its own.

    JSON Lines split after a newline. A JSON array splits before an object that follows a
    comma: the bytes `{"` cannot occur inside a JSON string (its quote would be escaped),
    so they always open an object. It might be an object nested in a record; then a part
    fails to parse, and the caller reads the file whole instead (see ingest).
    """
    fmt = detect_format(path)
    cuts: list[tuple[int, int]] = []  # (end of one part, start of the next)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            for k in range(1, parts):
                f.seek(size * k // parts)
                window = f.read(1 << 20)
                base = size * k // parts
                if fmt is CorpusFormat.JSONL:
                    newline = window.find(b"\n")
                    if newline >= 0:
                        cuts.append((base + newline + 1, base + newline + 1))
                    continue
                found = _OBJECT_AFTER_COMMA.search(window)
                if found:
                    cuts.append((base + found.start(), base + found.start("brace")))
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read corpus: {exc.strerror}") from None
    cuts = sorted(set(cuts))
    starts = [0] + [start for _, start in cuts]
    ends: list[int | None] = [end for end, _ in cuts] + [None]
    return [
        Part(start, end, wrap=fmt is CorpusFormat.ARRAY and len(starts) > 1)
        for start, end in zip(starts, ends, strict=True)
    ]


_OBJECT_AFTER_COMMA = re.compile(rb",\s*(?P<brace>\{)\s*\"")


def digest(raw: dict[str, Any]) -> str:
    """A digest of the fields feeder reads from a record, exactly as they were read."""
    h = hashlib.sha256()
    for key in FIELDS:
        value = raw.get(key)
        data = value if isinstance(value, str) else repr(value)
        h.update(data.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def checksum(path: Path, length: int, since: str | None = None) -> str:
    """A crc32 of the file's first `length` bytes: is what was read before still there?

    `since`, a check of a shorter prefix, is extended instead of reading from the start.
    """
    start, value = 0, 0
    if since is not None:
        _, known_length, known_value = since.split(":")
        start, value = int(known_length), int(known_value, 16)
    left = length - start
    try:
        with path.open("rb") as f:
            f.seek(start)
            while left > 0:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                value = zlib.crc32(chunk, value)
                left -= len(chunk)
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read corpus: {exc.strerror}") from None
    return f"crc32:{length}:{value:08x}"


# -- Parsing one record within the limits ------------------------------------------------


class _TooLong(Exception):
    """A number longer than MAX_DIGITS, raised from inside the decoder."""

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length


def _bounded_int(text: str) -> int:
    # The decoder hands every integer's text here before converting it: refuse a long one
    # before int() spends quadratic time on it (or refuses it, past 4,300 digits).
    if len(text) > MAX_DIGITS:
        raise _TooLong(len(text))
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > MAX_DIGITS:
        raise _TooLong(len(text))
    return float(text)


# Deep nesting needs no hook: the decoder recurses through Py_EnterRecursiveCall, so past
# about 1,000 levels it raises RecursionError, holding only what it built so far.
_DECODER = json.JSONDecoder(parse_int=_bounded_int, parse_float=_bounded_float)
_SAFE_CHARS = MAX_STRING // 4  # a string this long or shorter is within MAX_STRING bytes


def _over_limits(raw: dict[str, Any]) -> str | None:
    """Why a decoded record breaks a limit the decoder does not check, or None."""
    for key, value in raw.items():
        if len(key) > _SAFE_CHARS and _utf8_size(key) > MAX_STRING:
            return _string_problem(key, None, "a key")
        if isinstance(value, str):
            if len(value) > _SAFE_CHARS and _utf8_size(value) > MAX_STRING:
                return _string_problem(value, key)
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
            return _depth_problem(key)
        if isinstance(value, dict):
            for inner in value:
                if len(inner) > _SAFE_CHARS and _utf8_size(inner) > MAX_STRING:
                    return _string_problem(inner, key, "a key")
            children = value.values()
        else:
            children = value
        for child in children:
            if isinstance(child, str):
                if len(child) > _SAFE_CHARS and _utf8_size(child) > MAX_STRING:
                    return _string_problem(child, key)
            elif isinstance(child, dict | list):
                stack.append((child, level + 1))
    return None


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _in(key: str | None) -> str:
    return "" if key is None else f" in {shorten(key, 40)!r}"


def _depth_problem(key: str | None) -> str:
    return f"nested more than {MAX_DEPTH} levels deep{_in(key)}"


def _number_problem(length: int, key: str | None) -> str:
    return f"a number of {length:,} digits{_in(key)} (at most {MAX_DIGITS:,})"


def _string_problem(text: str, key: str | None, what: str = "a string") -> str:
    size = _utf8_size(text)
    return f"{what} of {size:,} bytes{_in(key)} (at most {MAX_STRING >> 20} MB)"


def _record_problem(size: int) -> str:
    return f"the record takes {size:,} bytes (at most {MAX_RECORD >> 20} MB)"


def _values_problem(key: str | None) -> str:
    return f"more than {MAX_VALUES:,} values{_in(key)}"


def _may_hold_too_many_values(text: str | bytes, start: int = 0) -> bool:
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


def _checked(value: Any, position: int) -> Record | Skipped:
    """A decoded value as a Record, or a Skipped naming what is wrong with it."""
    if isinstance(value, dict):
        problem = _over_limits(value)
        if problem is not None:
            return Skipped(position, _shown_id(value), problem)
    return _identify(value, position)


# -- A record the decoder refused: followed without being held ----------------------------

_TOKEN = re.compile(r'["\[\]{}:,]')
# The rest of a JSON string up to its closing quote (or to the end of the text): runs of
# plain characters and escapes, possessive so that a long string costs no backtracking.
_STRING_BODY = re.compile(r'[^"\\]*+(?:\\.[^"\\]*+)*+', re.DOTALL)
_ID_CHARS = 200  # an id (or top-level key) longer than this is not named
_NUMERIC_ID = re.compile(r"-?[0-9]{1,30}")


class _Inspector:
    """Follows one record that the decoder refused (nested too deep, a number too long) or
    that is too large to hold, piece by piece and holding none of it: where it ends, how
    deep it goes, its longest number, the top-level key where each is, and its id.

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
                    kept = len(self.string) + j - i <= _ID_CHARS
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
            return _record_problem(self.size)
        level, key = self.deepest
        if level > MAX_DEPTH:
            return _depth_problem(key)
        length, key = max(self.longest, (self.run, self.key), key=lambda found: found[0])
        if length > MAX_DIGITS:
            return _number_problem(length, key)
        if self.values > MAX_VALUES:
            return _values_problem(self.crowded)
        return cause


def _json_string(body: str | None) -> str | None:
    """A JSON string's text from its body as written (escapes and all), if it decodes."""
    if body is None:
        return None
    try:
        value = json.loads(f'"{body}"')
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _inspect(text: str) -> _Inspector:
    """Follow a whole record held in `text` (one JSON Lines line, within MAX_RECORD)."""
    inspector = _Inspector()
    inspector.feed(text, 0)
    inspector.size = _utf8_size(text)
    return inspector


# -- JSON array ----------------------------------------------------------------------

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


class _ArrayReader:
    """Cuts a JSON array, or a part of one, into records and decodes each on its own.

    The text read so far is kept from the start of the record being read, so memory is
    one record (at most MAX_RECORD) plus a chunk; a larger record is followed by an
    _Inspector, which holds none of it. A long record that may hold more than MAX_VALUES
    values is counted by an _Inspector before it is decoded.
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
                self._fail(_TRUNCATED, len(self.text))
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
                value, end = _DECODER.raw_decode(self.text, start)
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or _CUT_VALUE.fullmatch(
                    self.text, exc.pos
                )
                if not cut:
                    self._fail(f"invalid JSON: {exc.msg}", exc.pos)
                if self._grow():
                    continue
                if self.eof:
                    self._fail(_TRUNCATED, len(self.text))
                return self._follow(position, "too large to hold")
            except RecursionError:
                return self._follow(position, _depth_problem(None))
            except _TooLong as exc:
                return self._follow(position, _number_problem(exc.length, None))
            # A value that ends where the text does may go on (a number, in a bad corpus).
            if end == len(self.text) and self._grow():
                continue
            break
        self.pos = end
        if end - start > MAX_RECORD // 4:
            size = _utf8_size(self.text[start:end])
            if size > MAX_RECORD:
                return Skipped(position, _shown_id(value), _record_problem(size))
        if self.dirty and _NOT_UTF8.search(self.text, start, end):
            return Skipped(position, _shown_id(value), "not UTF-8")
        return _checked(value, position)

    def _grow(self) -> bool:
        """Read more for the record at self.pos: False at the end of the file, or when the
        record already holds more than MAX_RECORD (then it is followed, not held)."""
        held = len(self.text) - self.pos
        if held > MAX_RECORD // 4 and _utf8_size(self.text[self.pos :]) > MAX_RECORD:
            return False
        # Double what is held, so that a long record is decoded O(1) times over, but stop
        # about where MAX_RECORD is reached.
        return self._read(max(CHUNK, min(held, MAX_RECORD - held)))

    def _crowded(self, start: int) -> bool:
        if len(self.text) - start <= 2 * MAX_VALUES:  # the common case: nothing to count
            return False
        if self.crowded is None:
            self.crowded = _may_hold_too_many_values(self.text, start)
        return self.crowded

    def _count(self, position: int) -> Skipped | None:
        """Before decoding the record at self.pos, read it whole and count its values with an
        _Inspector: None if it may be decoded, else a Skipped (too many values, too large)."""
        inspector = _Inspector()
        at = self.pos
        while True:
            done, end = inspector.feed(self.text, at)
            inspector.size += _utf8_size(self.text[at:end])
            if done:
                if inspector.values <= MAX_VALUES:
                    return None
                self.pos = end
                return Skipped(position, inspector.ident, inspector.reason("too many values"))
            offset = end - self.pos  # kept across _grow, which moves the record to 0
            if not self._grow():
                if self.eof:
                    self._fail(_TRUNCATED, len(self.text))
                return self._follow(position, "too large to hold", inspector, end)
            at = self.pos + offset

    def _follow(
        self, position: int, cause: str, inspector: _Inspector | None = None, at: int = -1
    ) -> Skipped:
        """Skip the record at self.pos (an _Inspector already at `at` goes on from there);
        the Skipped says what was wrong."""
        inspector = inspector or _Inspector()
        at = self.pos if at < 0 else at
        while True:
            done, end = inspector.feed(self.text, at)
            inspector.size += _utf8_size(self.text[at:end])
            self.pos = end  # what was inspected is let go
            if done:
                return Skipped(position, inspector.ident, inspector.reason(cause))
            if not self._read(CHUNK):
                self._fail(_TRUNCATED, len(self.text))
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
            raise CorpusError(f"{self.path}: cannot read corpus: {exc.strerror}") from None
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
        raise CorpusError(f"{self.path}: {what}{_where(self.path, offset)}")


_TRUNCATED = "the JSON array ends before it is closed (truncated, or still being written)"


def _where(path: Path, offset: int) -> str:
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


# -- JSON Lines ----------------------------------------------------------------------


def _read_lines(
    path: Path, f: IO[bytes], part: Part, progress: Callable[[int], None] | None
) -> Generator[Record | Skipped, None, Tail]:
    offset, number = part.start, part.first_number
    left = None if part.end is None else part.end - part.start
    while left is None or left > 0:
        try:
            raw_line, size, record_size, complete = _next_line(f)
        except OSError as exc:
            raise CorpusError(f"{path}: cannot read corpus: {exc.strerror}") from None
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
            yield Skipped(number, _inspect(head).ident, _record_problem(record_size))
            continue
        text = raw_line.strip()
        if not text:
            if complete:
                offset += size
                number += 1
            continue
        if _may_hold_too_many_values(text):
            inspector = _inspect(text.decode("utf-8", "replace"))
            if inspector.values > MAX_VALUES:
                if not complete:
                    return Tail(offset=offset, lines=number, incomplete=True)
                number += 1
                offset += size
                yield Skipped(number, inspector.ident, inspector.reason("too many values"))
                continue
        try:
            value = _DECODER.decode(text.decode("utf-8", "surrogatepass").lstrip("\ufeff"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if not complete:
                # A last line without its newline is being written: read it next time.
                return Tail(offset=offset, lines=number, incomplete=True)
            number += 1
            offset += size
            reason = (
                f"invalid JSON at column {exc.colno}: {exc.msg}"
                if isinstance(exc, json.JSONDecodeError)
                else "not UTF-8"
            )
            if number == 1 and part.start == 0:
                _reject_whole_document(path)
            yield Skipped(number, _inspect(text.decode("utf-8", "replace")).ident, reason)
            continue
        except (RecursionError, _TooLong) as exc:
            if not complete:  # as above: the rest of the line may be on its way
                return Tail(offset=offset, lines=number, incomplete=True)
            number += 1
            offset += size
            cause = (
                _depth_problem(None)
                if isinstance(exc, RecursionError)
                else _number_problem(exc.length, None)
            )
            inspector = _inspect(text.decode("utf-8", "replace"))
            yield Skipped(number, inspector.ident, inspector.reason(cause))
            continue
        number += 1
        offset += size
        yield _checked(value, number)
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
        if _may_hold_too_many_values(data):
            return
        text = data.decode("utf-8", "surrogatepass").lstrip("\ufeff")
        value = _DECODER.decode(text)
    except (ValueError, RecursionError, _TooLong, OSError):
        return
    kind = type(value).__name__ if not isinstance(value, dict) else "a single object"
    raise CorpusError(
        f"{path}: not a list of articles: the file holds {kind} "
        "(expected a JSON array of article objects, or one object per line) (line 1, column 1)"
    )


# -- One record ----------------------------------------------------------------------


def _id_of(raw: Any) -> str:
    """The record's id, cleaned; "" if it has none that can be read."""
    ident = raw.get(ID) if isinstance(raw, dict) else None
    if isinstance(ident, int) and not isinstance(ident, bool):
        ident = str(ident)
    return clean_line(ident) if isinstance(ident, str) else ""


def _shown_id(raw: Any) -> str | None:
    """The id of a record being skipped, if it is short enough to name in a warning."""
    ident = raw.get(ID) if isinstance(raw, dict) else None
    if isinstance(ident, str) and len(ident) > _ID_CHARS:
        return None
    return _id_of(raw) or None


def _identify(raw: Any, position: int) -> Record | Skipped:
    if not isinstance(raw, dict):
        return Skipped(position, None, f"not an object but {kind_of(raw)}")
    ident = _id_of(raw)
    if not ident:
        return Skipped(position, None, f"no id ({ID} missing, empty or not a string)")
    return Record(position, ident, digest(raw), raw)
