"""Fault injection for the crash tests: die at a named step when FEEDER_CRASH_AT names it.

`crash_point(name)` sends the process SIGKILL, the one signal nothing can catch or clean
up after, exactly as a power cut or the OOM killer would end it. Unset, it costs one
environment lookup. The value is `name` (die the first time the step is reached) or
`name:N` (die the N-th time, e.g. between the third and the fourth output file).
"""

from __future__ import annotations

import os
import signal

from .environment import CRASH_AT

CRASH_ENV = CRASH_AT.name  # the variable's name, for the tests that set it

_reached: dict[str, int] = {}


def crash_point(name: str) -> None:
    """SIGKILL this process if FEEDER_CRASH_AT asks for a crash at this step."""
    target = CRASH_AT.read()
    if target is None:
        return
    wanted, _, nth = target.partition(":")
    if wanted != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] == (int(nth) if nth else 1):
        os.kill(os.getpid(), signal.SIGKILL)
