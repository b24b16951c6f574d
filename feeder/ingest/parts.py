"""Cutting a corpus file into parts that worker processes can each read on their own."""

from __future__ import annotations

import re
from pathlib import Path

from ..model import CorpusFormat
from .corpus import detect_format
from .limits import unreadable
from .records import Part

WINDOW = 1 << 20  # bytes searched for a cut after each point where one is wanted
# Where a part of a JSON array can start: `{"` cannot occur inside a JSON string (its quote
# would be escaped), so after a comma it always opens an object.
_OBJECT_AFTER_COMMA = re.compile(rb",\s*(?P<brace>\{)\s*\"")


def split(path: Path, parts: int) -> list[Part]:
    """Cut the file into about `parts` byte ranges that can each be read on its own.

    JSON Lines split after a newline. A JSON array splits before an object that follows a
    comma; it might be an object nested in a record, and then a part fails to parse and
    the caller reads the file whole instead (see workers.ingest). Where no cut is found
    near a point, there is one part fewer.
    """
    fmt = detect_format(path)
    cuts: list[tuple[int, int]] = []  # (end of one part, start of the next)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            for k in range(1, parts):
                base = size * k // parts
                f.seek(base)
                window = f.read(WINDOW)
                if fmt is CorpusFormat.JSONL:
                    newline = window.find(b"\n")
                    if newline >= 0:
                        cuts.append((base + newline + 1, base + newline + 1))
                    continue
                found = _OBJECT_AFTER_COMMA.search(window)
                if found:
                    cuts.append((base + found.start(), base + found.start("brace")))
    except OSError as exc:
        raise unreadable(path, exc) from None
    cuts = sorted(set(cuts))
    starts = [0] + [start for _, start in cuts]
    ends: list[int | None] = [end for end, _ in cuts] + [None]
    return [
        Part(start, end, wrap=fmt is CorpusFormat.ARRAY and len(starts) > 1)
        for start, end in zip(starts, ends, strict=True)
    ]
