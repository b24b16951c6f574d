"""Every environment variable feeder reads: its name, what it is for, and the one place that
reads it. Each is read when asked, never cached at import, so that a test can set it and a
child process inherits what its parent exported."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    """One environment variable."""

    name: str
    doc: str  # one line, for docs/configuration.md

    def read(self) -> str | None:
        """Its value now; None when it is unset or empty (empty means unset for every one)."""
        return os.environ.get(self.name) or None

    def export(self, value: str) -> None:
        """Set it in this process, for the child processes it starts."""
        os.environ[self.name] = value


CONFIG = Variable(
    "FEEDER_CONFIG", "the config file, when `--config` names none (else `./feeder.toml`)"
)
SECRET = Variable(
    "FEEDER_SECRET",
    "signs the subscribers' links and the web forms, at least 16 characters; unset, feeder "
    "generates one on first use and keeps it in the state",
)
SMTP_PASSWORD = Variable(
    "FEEDER_SMTP_PASSWORD",
    "the password for `smtp.username`: read from here only, never from the config or the state",
)
SERVE_CONFIG = Variable(
    "FEEDER_SERVE_CONFIG",
    "set by `feeder serve --workers N` for its worker processes: the config file each reads",
)
CRASH_AT = Variable(
    "FEEDER_CRASH_AT",
    "for the crash tests: kill the process at a named step, `name` or `name:N` (the N-th time)",
)
VARIABLES = (CONFIG, SECRET, SMTP_PASSWORD, SERVE_CONFIG, CRASH_AT)
