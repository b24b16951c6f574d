"""Modes of the files feeder creates: the state (subscriber addresses) and its locks are the
owner's alone whatever the umask, an operator's chmod is kept, and the outputs stay readable."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from feeder.cli import main
from feeder.lock import hold_lock, holder
from feeder.model import SubscriberStatus
from feeder.storage import open_storage
from tests.conftest import Site

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 2, 6, 1, 0, tzinfo=UTC)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """A permissive umask for the test (and the processes it starts), restored after."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def poll(site: Site) -> None:
    result = CliRunner().invoke(main, ["--config", str(site.config_path), "poll"])
    assert result.exit_code == 0, result.output


def test_a_poll_creates_the_state_and_the_job_lock_for_the_owner_only(
    site: Site, umask: int
) -> None:
    poll(site)

    config = site.config
    assert config.state.path.exists() and config.lock_path.exists()
    assert mode(config.state.path) == 0o600
    assert mode(config.lock_path) == 0o600
    # The feeds are for a web server under another user: still the usual 0o666 less the umask.
    assert mode(config.output.dir / "index.html") == 0o666 & ~umask
    assert mode(config.output.dir / "feeds" / "all.atom") == 0o666 & ~umask


def test_the_daemon_lock_is_for_the_owner_only(site: Site, umask: int) -> None:
    config = site.config
    daemon = subprocess.Popen(
        [sys.executable, "-m", "feeder", "--config", str(site.config_path), "daemon"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while holder(config.daemon_lock_path) is None and daemon.poll() is None:
            assert time.monotonic() < deadline, "the daemon never took its lock"
            time.sleep(0.05)
        assert daemon.poll() is None, daemon.communicate()[1]
        assert mode(config.daemon_lock_path) == 0o600
    finally:
        daemon.terminate()
        daemon.communicate(timeout=60)


@pytest.mark.parametrize("mask", [0o022, 0o000, 0o277], ids=oct)
def test_the_state_its_journal_and_a_lock_are_0600_whatever_the_umask(
    tmp_path: Path, mask: int
) -> None:
    # 0o277 would leave a file created with 0o600 read-only (0o400); it must be 0o600 exactly.
    state = tmp_path / "state.db"
    old = os.umask(mask)
    try:
        storage = open_storage(state, TZ)
        try:
            with storage.transaction():
                storage.add_subscriber("a@example.org", "", SubscriberStatus.ACTIVE, "ref", NOW)
                # SQLite creates its write-ahead log and the index beside it with the state
                # file's mode.
                for suffix in ("-wal", "-shm"):
                    journal = state.with_name(state.name + suffix)
                    assert journal.exists()
                    assert mode(journal) == 0o600
        finally:
            storage.close()
        with hold_lock(tmp_path / "state.db.job.lock", "poll"):
            assert mode(tmp_path / "state.db.job.lock") == 0o600
    finally:
        os.umask(old)

    assert mode(state) == 0o600


def test_an_operators_mode_is_kept(site: Site, umask: int) -> None:
    # Say a backup job's group may read the state: feeder must not undo that on its next run.
    poll(site)
    config = site.config
    os.chmod(config.state.path, 0o640)
    os.chmod(config.lock_path, 0o640)

    poll(site)

    assert mode(config.state.path) == 0o640
    assert mode(config.lock_path) == 0o640


def test_a_symlinked_state_file_is_created_0600_where_it_points(tmp_path: Path, umask: int) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "state.db").symlink_to(tmp_path / "elsewhere" / "state.db")  # dangling

    open_storage(tmp_path / "state.db", TZ).close()

    assert mode(tmp_path / "elsewhere" / "state.db") == 0o600
