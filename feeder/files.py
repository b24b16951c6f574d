"""Writing output files so that a reader or a web server never sees half of one."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

from .errors import OutputError
from .faults import crash_point


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically replace `path` with `data`; False, touching nothing, if it already holds it.

    The bytes go to a temporary file in the same folder, are flushed to disk, and are then
    renamed over the old file, so the old version stays whole until the new one is. An
    unchanged file keeps its mtime, which is what HTTP caching (Last-Modified) relies on.
    Raises OutputError, naming the path, when the file cannot be written; the old file is
    then intact and no temporary file is left behind.
    """
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _error(path, exc) from None

    # A dot-name that `feeder serve` hides, unique so that two writers never share one;
    # one that a killed writer leaves is removed by the next holder of the state lock.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # 0o666 before the umask, like any new file: a web server under another user must
        # be able to read it (mkstemp's 0o600 would lock it out).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            crash_point("output-renaming")
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(path.parent)
    except OSError as exc:
        raise _error(path, exc) from None
    return True


# The temporary files write_if_changed makes: ".<name>.<8 hex digits>.tmp".
_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{8}\.tmp")


def remove_temp_files(folder: Path) -> list[Path]:
    """Delete the temporary files that writers killed mid-write left below `folder`.

    Only safe while holding the state lock, when no other writer can be mid-write.
    """
    removed = []
    for tmp in folder.rglob(".*.tmp") if folder.is_dir() else ():
        if _TEMPORARY.fullmatch(tmp.name):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable. Not every file system allows it; the data is
    # already safe by then, so a refusal is not an error.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _error(path: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    return OutputError(
        f"{path}: cannot write: {reason} (check that {path.parent} is writable and has space)"
    )
