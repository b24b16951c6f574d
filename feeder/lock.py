"""One feeder process per state file: an flock on a file beside the state database."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import LockedError, StateError


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds the lock, as it wrote itself into the lock file."""

    pid: int | None  # None if the file held no readable pid
    role: str  # "daemon", "poll", "newsletter send", …


@contextmanager
def hold_lock(path: Path, role: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the lock for the block, waiting up to `wait` seconds for another holder.

    The kernel drops an flock when its process dies, so a crashed holder never leaves a
    stale lock behind; the pid in the file is only there to tell the user who holds it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_private(path)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockedError(_refusal(path)) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {role}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_private(path: Path) -> int:
    """Open the lock file for writing, creating it 0600 whatever the umask.

    flock needs no write access: anyone who can open the file, even read-only, can hold
    the lock and stall every feeder job. An existing file keeps its mode.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # O_CREAT again in case it vanished meanwhile; 0o600 less the umask is no wider.
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # Exactly 0600: an odd umask such as 0o277 would leave it unopenable for writing.
        os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def holder(path: Path) -> Holder | None:
    """The process holding the lock now, or None if nobody does."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:  # created 0600 by another user: say so, not a traceback
        raise StateError(f"{path}: cannot read the lock file: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_holder(path: Path) -> Holder:
    try:
        pid_text, _, role = path.read_text(encoding="utf-8").strip().partition(" ")
        return Holder(int(pid_text), role or "process")
    except (OSError, ValueError):
        return Holder(None, "process")


def _refusal(path: Path) -> str:
    who = _read_holder(path)
    pid = "" if who.pid is None else f"pid {who.pid}"
    if who.role == "daemon":
        return f"another feeder daemon ({pid or 'pid unknown'}) holds {path}"
    details = ", ".join(part for part in (who.role, pid) if part)
    return f"another feeder process ({details}) holds {path}"
