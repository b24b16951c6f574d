"""What polls saw and did, and the few facts kept between them (the meta table)."""

from __future__ import annotations

from dataclasses import asdict

from ..model import PollRecord
from .base import Database, from_db_time, to_db_time

POLLS_KEPT = 100  # a short history for `feeder status`, not an ever-growing log


class Polls(Database):
    """The polls and meta tables."""

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = :key", {"key": key}).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (:key, :value) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            {"key": key, "value": value},
        )

    def record_poll(self, poll: PollRecord) -> None:
        self.db.execute(
            """
            INSERT INTO polls (finished_at, corpus_path, size, mtime_ns, new, updated, unchanged,
                               skipped, resume_offset, resume_lines, resume_check, corpus_check)
            VALUES (:finished_at, :corpus_path, :size, :mtime_ns, :new, :updated, :unchanged,
                    :skipped, :resume_offset, :resume_lines, :resume_check, :corpus_check)
            """,
            {**asdict(poll), "finished_at": to_db_time(poll.finished_at)},
        )
        self.db.execute(
            "DELETE FROM polls WHERE id <= (SELECT max(id) FROM polls) - :kept",
            {"kept": POLLS_KEPT},
        )

    def touch_last_poll(self, mtime_ns: int) -> None:
        self.db.execute(
            "UPDATE polls SET mtime_ns = :mtime_ns WHERE id = (SELECT max(id) FROM polls)",
            {"mtime_ns": mtime_ns},
        )

    def last_poll(self) -> PollRecord | None:
        row = self.db.execute(
            """
            SELECT finished_at, corpus_path, size, mtime_ns, new, updated, unchanged, skipped,
                   resume_offset, resume_lines, resume_check, corpus_check
            FROM polls ORDER BY id DESC LIMIT 1
            """
        ).fetchone()
        if row is None:
            return None
        return PollRecord(from_db_time(row[0], self.tz), *row[1:])
