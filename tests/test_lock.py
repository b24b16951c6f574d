"""The state lock: one holder at a time, a clear refusal, nothing stale after a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from feeder.errors import LockedError
from feeder.lock import hold_lock, holder


def test_second_holder_is_refused_naming_the_first(tmp_path: Path) -> None:
    lock = tmp_path / "state.db.lock"
    assert holder(lock) is None
    with hold_lock(lock, "daemon"):
        who = holder(lock)
        assert who is not None and who.pid == os.getpid() and who.role == "daemon"
        with pytest.raises(LockedError) as refused, hold_lock(lock, "poll", wait=0.2):
            pass
        assert str(refused.value) == f"another feeder daemon (pid {os.getpid()}) holds {lock}"
    assert holder(lock) is None
    with hold_lock(lock, "poll"):
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    lock = tmp_path / "state.db.lock"
    code = (
        "import os, sys; from pathlib import Path; from feeder.lock import hold_lock\n"
        f"with hold_lock(Path({str(lock)!r}), 'daemon'):\n"
        "    print('held', flush=True); sys.stdin.readline()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline() == "held\n"
    who = holder(lock)
    assert who is not None and who.pid == child.pid
    child.kill()
    child.wait()
    assert holder(lock) is None
    with hold_lock(lock, "poll"):
        pass
