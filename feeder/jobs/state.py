"""The state's own jobs: where `feeder state copy` may write. The copy itself is
storage/copy.py's, table by table over the TableStore protocol."""

from __future__ import annotations

from pathlib import Path

from ..errors import StateError
from ..location import is_url, refuse_password


def copy_target(target: str, source: Path | str) -> Path | str:
    """Where a copy of the state at `source` goes, as given to `--to`: a postgresql:// URL
    (without a password) or a SQLite file (resolved). StateError if it is the state itself.
    Pure, but for resolving the file's path."""
    if is_url(target):
        refuse_password(target, "--to")
        where: Path | str = target
    else:
        where = Path(target).resolve()
    if str(where) == str(source):
        raise StateError(f"{target}: that is the state being copied; name another")
    return where
