"""`feeder init`: a new site's commented config and copies of the packaged taxonomy and
templates, written into a folder without overwriting anything."""

from __future__ import annotations

import os
from pathlib import Path

from .config import DEFAULT_NAME
from .config.reference import copied_keys, init_file
from .errors import ConfigError


def scaffold(folder: Path) -> list[Path]:
    """Write feeder.toml, taxonomy.toml and templates/ into `folder` (made if missing).

    Returns the files written, each as `folder / name`. Raises ConfigError, writing
    nothing, if any of them (or a folder on the way to one) already exists: an operator's
    edited copy is never replaced.
    """
    files = _contents(folder)
    for target in files:
        _refuse_existing(folder, target)
    for target, data in files.items():
        _write_new(target, data)
    return list(files)


def _contents(folder: Path) -> dict[Path, bytes]:
    """Each file to write and its bytes, in the order they are written and reported: the
    config, then a copy of each built-in file it names (the taxonomy, the templates)."""
    files = {folder / DEFAULT_NAME: init_file().encode("utf-8")}
    for key in copied_keys():
        source, copy = Path(key.default), folder / key.setting.init
        if source.is_file():
            files[copy] = source.read_bytes()
            continue
        # A folder: the same globs as pyproject's package-data, so that a checkout (or an
        # editable install) copies exactly the set a wheel ships, and no editor or cache files.
        for path in sorted(source.rglob("*.j2")):
            files[copy / path.relative_to(source)] = path.read_bytes()
    return files


def _refuse_existing(folder: Path, target: Path) -> None:
    # lexists: a dangling symlink is in the way too, and writing through it would land
    # somewhere the operator did not ask for.
    if os.path.lexists(target):
        raise ConfigError(f"{target} exists; init writes only new files")
    # A file where a folder must go (folder itself, templates/, partials/) would make the
    # write fail half-way through; refuse it up front instead.
    for parent in (target.parent, *target.parent.parents):
        if os.path.lexists(parent) and not parent.is_dir():
            raise ConfigError(f"{parent} exists; init writes only new files")
        if parent == folder:
            break


def _write_new(target: Path, data: bytes) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # "x" rather than "w": a file that appeared since the check is still not replaced.
        with target.open("xb") as f:
            f.write(data)
    except FileExistsError:
        raise ConfigError(f"{target} exists; init writes only new files") from None
    except OSError as exc:
        raise ConfigError(f"{target}: cannot write: {exc.strerror or exc}") from None
