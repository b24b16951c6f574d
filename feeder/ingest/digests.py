"""Telling what changed without keeping it: a record's digest, a corpus file's checksum."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path
from typing import Any

from .limits import unreadable
from .normalise import FIELDS


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
        raise unreadable(path, exc) from None
    return f"crc32:{length}:{value:08x}"
