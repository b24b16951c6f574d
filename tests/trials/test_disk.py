"""Disk trouble: a read-only output folder or a full disk is one error line, the published
files stay as they were, and the state does not move past what was published.

As root, permissions do not stop writes, so the poll runs in a child that drops the
capabilities letting root ignore them (setpriv, as in publish/test_feeds.py); a file-size limit
(RLIMIT_FSIZE) stands in for a full disk.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from feeder.faults import CRASH_ENV
from tests.conftest import ROOT, Site, record, seed_records
from tests.jobs.test_poll import dump, outputs

SETPRIV = Path("/usr/bin/setpriv")
CHANGE = "1 new, 1 updated, 53 unchanged, 0 skipped\n"  # what the changed corpus brings


def run_child(site: Site, *args: str, read_only: bool = False, max_file: int = 0) -> str:
    """`feeder ARGS` in a child process; returns its stderr after checking it failed cleanly."""
    command = [sys.executable, "-m", "feeder", "--config", str(site.config_path), *args]
    if read_only and os.geteuid() == 0:
        if not SETPRIV.exists():
            pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
        drop = "-dac_override,-dac_read_search"
        command = [str(SETPRIV), f"--inh-caps={drop}", f"--bounding-set={drop}", *command]

    def limit() -> None:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file, max_file))

    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        preexec_fn=limit if max_file else None,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def poll(site: Site) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "feeder", "--config", str(site.config_path), "poll"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def changed(site: Site) -> Site:
    """The seed published, then a corpus with one article added and one edited."""
    assert poll(site) == "54 new, 0 updated, 0 unchanged, 0 skipped\n"
    records = seed_records()
    records[0]["finalContent"] += "\r补充一段。"
    records.append(record("disk-1", title="新发布的科研成果", time="2026/2/6"))
    site.write_corpus(records)
    return site


def test_a_read_only_output_folder_fails_the_poll_and_keeps_everything(changed: Site) -> None:
    site = changed
    state, files, listing = dump(site), outputs(site), tree(site.out)
    # Every folder of it, archive pages' included.
    folders = [site.out, *(path for path in site.out.rglob("*") if path.is_dir())]
    for folder in folders:
        folder.chmod(0o555)
    try:
        message = run_child(site, "poll", read_only=True)
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert "cannot write: Permission denied" in message and str(site.out) in message
    assert outputs(site) == files and tree(site.out) == listing  # no temporary file either
    assert dump(site) == state  # rolled back: not even the poll log moved
    assert poll(site) == CHANGE  # so the next poll does exactly what this one could not


def state_writes(site: Site, step: str) -> int:
    """How far the state file and its write-ahead log reach when a poll gets to `step`: found by
    killing the same poll, on a copy of the site, at that step (see feeder/faults.py)."""
    copy = site.root.parent / f"{site.root.name}-{step}"
    shutil.copytree(site.root, copy)
    result = subprocess.run(
        [sys.executable, "-m", "feeder", "--config", str(copy / "feeder.toml"), "poll"],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), CRASH_ENV: step},
        timeout=120,
    )
    assert result.returncode == -9, result.stderr
    files = [copy / "data" / "state.db", copy / "data" / "state.db-wal"]
    reach = max(f.stat().st_size for f in files if f.exists())
    shutil.rmtree(copy)
    return reach


def largest_output(site: Site) -> int:
    """The size of the largest file a poll of the site writes, found on a copy of it."""
    copy = site.root.parent / f"{site.root.name}-outputs"
    shutil.copytree(site.root, copy)
    poll(Site(copy, copy / "feeder.toml", copy / "data" / "corpus.json"))
    largest = max(path.stat().st_size for path in (copy / "out").rglob("*") if path.is_file())
    shutil.rmtree(copy)
    return largest


def test_a_full_disk_while_publishing_fails_the_poll_and_keeps_everything(
    make_site: Callable[..., Site],
) -> None:
    # Room for every article in the feeds' documents: no archive page is written before
    # the feeds that outgrow the disk (pages that were would hold their new bytes).
    site = make_site(extra="max_entries = 100\n")
    assert poll(site) == "54 new, 0 updated, 0 unchanged, 0 skipped\n"
    # A new article big enough that its feeds outgrow what the state needs before them.
    big = record("disk-big", title="新发布的科研成果", time="2026/2/6", content="科研。" * 120_000)
    site.write_corpus([*seed_records(), big])
    state, files, listing = dump(site), outputs(site), tree(site.out)
    limit = state_writes(site, "poll-ingested") + (64 << 10)
    message = run_child(site, "poll", max_file=limit)
    assert "cannot write: File too large" in message
    assert outputs(site) == files and tree(site.out) == listing  # no temporary file either
    assert dump(site) == state
    assert poll(site) == "1 new, 0 updated, 54 unchanged, 0 skipped\n"
    assert max(len(data) for data in outputs(site).values()) > limit  # it did need the room


def test_a_full_disk_at_commit_fails_the_poll_and_keeps_the_state(site: Site) -> None:
    assert poll(site) == "54 new, 0 updated, 0 unchanged, 0 skipped\n"
    # Old articles with long texts and no category: the state file must grow by megabytes to
    # hold them. They arrive in the feed of everything, whose documents are written before
    # the commit fails (they hold their new bytes, which the next poll keeps); but that
    # holds the full text of only 50, the archive pages summaries: less than the state needs.
    old = [
        record(f"disk-old-{i}", title="旧闻", time="2001/1/1", content="。" * 20_000)
        for i in range(200)
    ]
    site.write_corpus([*seed_records(), *old])
    state, files = dump(site), outputs(site)
    before = site.state.stat().st_size
    # Room for the feed that now holds the article, not for the state's checkpoint.
    limit = max(state_writes(site, "poll-published"), largest_output(site)) + (64 << 10)
    message = run_child(site, "poll", max_file=limit)
    assert message.startswith(f"Error: {site.state}: cannot write the state: "), message
    db = sqlite3.connect(site.state)
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()
    assert dump(site) == state
    written = outputs(site)
    assert written != files
    assert poll(site) == "200 new, 0 updated, 54 unchanged, 0 skipped\n"
    assert outputs(site) == written
    assert site.state.stat().st_size > max(limit, before)  # it did need the room
    assert poll(site) == "unchanged\n"


def test_a_full_disk_before_the_first_poll_leaves_no_state(
    make_site: Callable[..., Site],
) -> None:
    site = make_site()
    message = run_child(site, "poll", max_file=4096)
    assert message.startswith("Error: ") and "Traceback" not in message
    assert poll(site) == "54 new, 0 updated, 0 unchanged, 0 skipped\n"
