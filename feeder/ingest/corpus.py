"""Reading the corpus, a JSON array or JSON Lines file, record by record: its format, its
records with the position and digest of each, and the articles they normalise into.

Each record is cut out of the file (arrays.py, lines.py) and decoded on its own by the
standard library's decoder within limits a real article never reaches (limits.py); a record
past a limit is skipped and named, and every other record is read. No parser that can crash
the process on such input (ijson's C backend segfaults on a long number) is ever used.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

from ..errors import CorpusError
from ..model import Article, CorpusFormat
from ..schedule import ARTICLE_YEARS
from .arrays import ArrayReader
from .limits import unreadable, where
from .lines import read_lines
from .normalise import BadRecord, normalise
from .records import WHOLE, Part, Record, Skipped, Tail

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
        raise unreadable(path, exc) from None
    first = stripped[:1]
    if first == b"[":
        return CorpusFormat.ARRAY
    if first == b"{":
        return CorpusFormat.JSONL
    # The file may be anything the path was pointed at (/etc/shadow, say): name the place,
    # never the bytes.
    raise CorpusError(
        f"{path}: not a JSON array or JSON Lines of articles: its first byte that is not "
        f"white space (byte {skipped}) is not [ or {{{where(path, skipped)}"
    )


def read_records(
    path: Path, part: Part = WHOLE, progress: Callable[[int], None] | None = None
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
        raise unreadable(path, exc) from None
    with f:
        if fmt is CorpusFormat.ARRAY:
            records = yield from ArrayReader(path, f, part, progress).records()
            return Tail(offset=f.tell(), lines=records, incomplete=False)
        return (yield from read_lines(path, f, part, progress))


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
