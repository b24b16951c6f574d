"""Reading the corpus: stream a JSON array or JSON Lines file, record by record, with the
position of each and a digest that tells whether it changed; cut a large file into parts."""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import ijson

from ..errors import CorpusError
from ..model import Article, CorpusFormat
from .normalise import FIELDS, ID, BadRecord, clean_line, kind_of, normalise

CHUNK = 1 << 16


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


def detect_format(path: Path) -> CorpusFormat:
    """ARRAY or JSONL, from the first character that is not white space."""
    try:
        with path.open("rb") as f:
            while True:
                chunk = f.read(4096)
                if not chunk:
                    raise CorpusError(
                        f"{path}: the file is empty (expected a JSON array of articles)"
                    )
                stripped = chunk.lstrip(b" \t\r\n\xef\xbb\xbf")
                if stripped:
                    break
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
    raise CorpusError(
        f"{path}: not a JSON array or JSON Lines of articles "
        f"(starts with {stripped[:20].decode('utf-8', 'replace')!r}) (line 1, column 1)"
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
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read corpus: {exc.strerror}") from None
    with f:
        f.seek(part.start)
        if fmt is CorpusFormat.ARRAY:
            records = yield from _read_array(path, f, part, progress)
            return Tail(offset=f.tell(), lines=records, incomplete=False)
        return (yield from _read_lines(path, f, part, progress))


def to_article(record: Record, tz: ZoneInfo) -> Article:
    """Normalise a record; BadRecord names the field that is wrong."""
    return normalise(record.raw, record.id, tz)


def scan(
    path: Path,
    tz: ZoneInfo,
    *,
    start: int = 0,
    start_line: int = 0,
    progress: Callable[[int], None] | None = None,
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
            yield to_article(item, tz)
        except BadRecord as exc:
            yield Skipped(item.position, item.id, str(exc))


def read_articles(
    path: Path, tz: ZoneInfo, warn: Callable[[str], None] = lambda _msg: None
) -> Iterator[Article]:
    """The articles of a corpus file; each skipped record is reported through `warn`."""
    for item in scan(path, tz):
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
    size = path.stat().st_size
    cuts: list[tuple[int, int]] = []  # (end of one part, start of the next)
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
    with path.open("rb") as f:
        f.seek(start)
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            value = zlib.crc32(chunk, value)
            left -= len(chunk)
    return f"crc32:{length}:{value:08x}"


# -- JSON array, streamed with ijson ------------------------------------------------


class _RangeReader:
    """Hands a byte range to ijson, keeping the last chunk to locate a syntax error."""

    def __init__(self, f: IO[bytes], part: Part, progress: Callable[[int], None] | None) -> None:
        self.f = f
        self.left = None if part.end is None else part.end - part.start
        # A slice keeps the array's own "[" if it starts the file, its "]" if it ends it.
        self.prefix = b"[" if part.wrap and part.start > 0 else b""
        self.suffix = b"]" if part.wrap and part.end is not None else b""
        self.progress = progress
        self.consumed = 0  # bytes of the file handed out before the current chunk
        self.chunk = b""

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson probes with read(0) to learn whether it gets bytes
            return b""
        self.consumed += len(self.chunk)
        if self.prefix:
            self.chunk, self.prefix = b"", b""
            return b"["
        want = size if self.left is None else min(size, self.left)
        self.chunk = self.f.read(want) if want else b""
        if self.left is not None:
            self.left -= len(self.chunk)
        if self.progress is not None:
            self.progress(len(self.chunk))
        if not self.chunk and self.suffix:
            self.suffix = b""
            return b"]"
        return self.chunk


def _read_array(
    path: Path, f: IO[bytes], part: Part, progress: Callable[[int], None] | None
) -> Generator[Record | Skipped, None, int]:
    reader = _RangeReader(f, part, progress)
    position = 0
    try:
        try:
            for position, raw in enumerate(ijson.items(reader, "item", buf_size=CHUNK), 1):
                yield _identify(raw, position)
        except UnicodeDecodeError:
            # yajl cannot return a lone surrogate escape ("\ud800": valid JSON, e.g. half an
            # emoji), which the normaliser would drop. ijson's pure-Python parser can: read
            # the part again with it (slower), past the records already handed out.
            f.seek(part.start)
            reader, done = _RangeReader(f, part, None), position
            items = ijson.get_backend("python").items(reader, "item", buf_size=CHUNK)
            for position, raw in enumerate(items, 1):
                if position > done:
                    yield _identify(raw, position)
    except ijson.JSONError as exc:
        raise CorpusError(f"{path}: {_describe_ijson(exc, reader, part, path)}") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read corpus: {exc.strerror}") from None
    if position == 0 and not _is_array(path):
        raise CorpusError(f"{path}: not a JSON array of articles")
    return position


def _is_array(path: Path) -> bool:
    # ijson yields nothing both for `[]` and for a document of another shape.
    with path.open("rb") as f:
        head = f.read(64).lstrip(b" \t\r\n\xef\xbb\xbf")
    return head.startswith(b"[")


def _describe_ijson(exc: Exception, reader: _RangeReader, part: Part, path: Path) -> str:
    message = str(exc).strip()
    headline = message.splitlines()[0] if message else "invalid JSON"
    if "premature EOF" in message or "Incomplete JSON content" in message:
        offset = part.start + reader.consumed + len(reader.chunk)
        what = "the JSON array ends before it is closed (truncated, or still being written)"
    else:
        offset = part.start + reader.consumed + _locate_snippet(message, reader.chunk)
        what = f"invalid JSON: {headline.split(':', 1)[-1].strip()}"
    line, column = _line_column(path, offset)
    return f"{what} (line {line}, column {column})"


def _locate_snippet(message: str, chunk: bytes) -> int:
    """The error's offset inside `chunk`, found from the excerpt yajl prints above its caret."""
    lines = message.splitlines()
    for i in range(1, len(lines) - 1):
        caret = lines[i + 1]
        if caret.rstrip().endswith("^"):
            excerpt = lines[i].strip()
            column = len(caret.rstrip()) - 1 - (len(lines[i]) - len(lines[i].lstrip()))
            flat = chunk.decode("utf-8", "replace").translate({10: 32, 13: 32, 9: 32})
            found = flat.find(excerpt)
            if found >= 0:
                return len(flat[: found + max(column, 0)].encode("utf-8"))
    return 0


def _line_column(path: Path, offset: int) -> tuple[int, int]:
    line, line_start, pos = 1, 0, 0
    with path.open("rb") as f:
        while pos < offset:
            chunk = f.read(min(CHUNK, offset - pos))
            if not chunk:
                break
            newlines = chunk.count(b"\n")
            if newlines:
                line += newlines
                line_start = pos + chunk.rindex(b"\n") + 1
            pos += len(chunk)
        f.seek(line_start)
        column = len(f.read(max(offset - line_start, 0)).decode("utf-8", "replace")) + 1
    return line, column


# -- JSON Lines ----------------------------------------------------------------------


def _read_lines(
    path: Path, f: IO[bytes], part: Part, progress: Callable[[int], None] | None
) -> Generator[Record | Skipped, None, Tail]:
    offset, number = part.start, part.first_number
    left = None if part.end is None else part.end - part.start
    for raw_line in f:
        if left is not None:
            if left <= 0:
                break
            left -= len(raw_line)
        if progress is not None:
            progress(len(raw_line))
        complete = raw_line.endswith(b"\n")
        text = raw_line.strip()
        if not text:
            if complete:
                offset += len(raw_line)
                number += 1
            continue
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if not complete:
                # A last line without its newline is being written: read it next time.
                return Tail(offset=offset, lines=number, incomplete=True)
            number += 1
            offset += len(raw_line)
            reason = (
                f"invalid JSON at column {exc.colno}: {exc.msg}"
                if isinstance(exc, json.JSONDecodeError)
                else "not UTF-8"
            )
            if number == 1 and part.start == 0:
                _reject_whole_document(path)
            yield Skipped(number, None, reason)
            continue
        number += 1
        offset += len(raw_line)
        yield _identify(value, number)
    return Tail(offset=offset, lines=number, incomplete=False)


def _reject_whole_document(path: Path) -> None:
    """A first line that is not JSON may be a pretty-printed single object: say so."""
    try:
        if path.stat().st_size > 64 << 20:  # a document that large is not one article
            return
        value = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return
    kind = type(value).__name__ if not isinstance(value, dict) else "a single object"
    raise CorpusError(
        f"{path}: not a list of articles: the file holds {kind} "
        "(expected a JSON array of article objects, or one object per line) (line 1, column 1)"
    )


# -- One record ----------------------------------------------------------------------


def _identify(raw: Any, position: int) -> Record | Skipped:
    if not isinstance(raw, dict):
        return Skipped(position, None, f"not an object but {kind_of(raw)}")
    ident = raw.get(ID)
    if isinstance(ident, int) and not isinstance(ident, bool):
        ident = str(ident)
    ident = clean_line(ident) if isinstance(ident, str) else ""
    if not ident:
        return Skipped(position, None, f"no id ({ID} missing, empty or not a string)")
    return Record(position, ident, digest(raw), raw)
