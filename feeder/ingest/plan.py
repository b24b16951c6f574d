"""The poll's decisions: whether the corpus must be read at all, where a read may resume,
and what each record's comparison with the state means. Pure, but for the checksums of the
corpus file that `plan_read` takes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..model import Change, CorpusFormat, PollRecord, WriteMode
from .digests import checksum
from .records import Part


def decide(stored_digest: str | None, record_digest: str) -> Change:
    """New id → NEW; same id with other content → UPDATED; same content → UNCHANGED."""
    if stored_digest is None:
        return Change.NEW
    return Change.UNCHANGED if stored_digest == record_digest else Change.UPDATED


def write_mode(change: Change, *, again: bool = False) -> WriteMode:
    """How to write a record found to be `change`; `again` if this poll wrote its id already."""
    if change is Change.UPDATED:
        return WriteMode.EDIT
    if change is Change.NEW and not again:
        return WriteMode.INSERT
    return WriteMode.REWRITE  # forced, or a later record of an id written in this poll


def corpus_unchanged(last: PollRecord | None, path: Path, size: int, mtime_ns: int) -> bool:
    """The file is what the last successful poll saw, judged by path, size and mtime alone."""
    return (
        last is not None
        and last.corpus_path == str(path)
        and last.size == size
        and last.mtime_ns == mtime_ns
    )


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """Checksums of the corpus file taken before reading it, and where to start reading."""

    size: int  # bytes in the file when it was checksummed
    whole: str  # checksum of the whole file
    resume: Part | None  # JSON Lines that only grew: where to resume reading; None = all
    prefix: str | None  # checksum of the part the last poll read, when it is unchanged

    def check_up_to(self, path: Path, length: int) -> str:
        """The checksum of the first `length` bytes, extending what is known already."""
        if length == self.size:
            return self.whole
        return checksum(path, length, since=self.prefix)

    def same_bytes(self, last: PollRecord | None, path: Path) -> bool:
        """The file holds just the bytes the last poll read (rewritten with a new mtime, say)."""
        return (
            last is not None and last.corpus_path == str(path) and last.corpus_check == self.whole
        )


def plan_read(
    path: Path, fmt: CorpusFormat, size: int, last: PollRecord | None, resumable: bool
) -> ReadPlan:
    """Checksum the file before it is read: if it changes while being read, the next poll
    sees a checksum that does not match and reads it again (never the other way round)."""
    if (
        resumable
        and fmt is CorpusFormat.JSONL
        and last is not None
        and last.resume_offset is not None
        and last.resume_lines is not None
        and last.corpus_path == str(path)
        and last.resume_offset <= size
    ):
        prefix = checksum(path, last.resume_offset)
        whole = checksum(path, size, since=prefix)
        if prefix == last.resume_check:
            resume = Part(last.resume_offset, first_number=last.resume_lines)
            return ReadPlan(size, whole, resume, prefix)
        return ReadPlan(size, whole, None, None)
    return ReadPlan(size, checksum(path, size), None, None)
