"""One poll: read the corpus, store what is new or edited, classify it, refresh the outputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .classify import taxonomy_fingerprint
from .config import Config
from .corpus import Part, checksum, detect_format
from .errors import CorpusError
from .faults import crash_point
from .store import PollRecord, Store

if TYPE_CHECKING:
    from .classify import Classifier
    from .model import Tag

TAXONOMY_KEY = "taxonomy_fingerprint"


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did; `unchanged` means the corpus file was not even read."""

    unchanged: bool
    new: int = 0
    updated: int = 0
    kept: int = 0  # records whose content was already stored as is
    skipped: int = 0
    reclassified: int = 0  # stored articles re-tagged because the taxonomy changed
    resumed: bool = False  # JSON Lines: only what was appended since the last poll was read
    written: tuple[Path, ...] = ()  # output files rewritten

    def summary(self) -> str:
        if self.unchanged:
            return "unchanged"
        return (
            f"{self.new} new, {self.updated} updated, {self.kept} unchanged, {self.skipped} skipped"
        )


def corpus_unchanged(last: PollRecord | None, path: Path, size: int, mtime_ns: int) -> bool:
    """The file is what the last successful poll saw, judged by path, size and mtime alone."""
    return (
        last is not None
        and last.corpus_path == str(path)
        and last.size == size
        and last.mtime_ns == mtime_ns
    )


def run_poll(
    config: Config,
    *,
    force: bool = False,
    now: datetime | None = None,
    warn: Callable[[str], None] = lambda _msg: None,
    progress: Callable[[int], None] | None = None,
) -> PollResult:
    """Bring the state and the outputs up to date with the corpus, in one transaction.

    The outputs are written before the transaction commits: if writing them fails, the
    state stays where it was and the next poll tries again.
    """
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    path = config.corpus.path
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise CorpusError(f"{path}: corpus file not found") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read corpus: {exc.strerror}") from None
    fingerprint = taxonomy_fingerprint(config.taxonomy.path)

    with Store.open(config.state.path, config.tz) as store:
        last = store.last_poll()
        retuned = store.get_meta(TAXONOMY_KEY) != fingerprint
        if (
            not force
            and not retuned
            and corpus_unchanged(last, path, stat.st_size, stat.st_mtime_ns)
        ):
            if _outputs_present(config):
                return PollResult(unchanged=True)
            with store.transaction():
                written = _publish(store, config)
            return PollResult(unchanged=True, written=tuple(written))

        fmt = detect_format(path)
        checks = _read_checks(path, fmt, stat.st_size, last, resumable=not (force or retuned))
        if (
            not force
            and not retuned
            and last is not None
            and last.corpus_path == str(path)
            and last.corpus_check == checks.whole
        ):
            # Rewritten with the same bytes (a new mtime, say): nothing to read.
            with store.transaction():
                store.touch_last_poll(stat.st_mtime_ns)
            return PollResult(unchanged=True)

        # Heavy imports stay here, off the path of a poll that finds nothing to do.
        from .classify import Classifier, load_taxonomy
        from .ingest import FirstLookups, Job, Outcome, ingest

        taxonomy = load_taxonomy(config.taxonomy.path)
        resume = checks.resume
        # A resumed read meets a few ids: look them up one by one instead of loading all.
        known = store.known_hashes() if resume is None else FirstLookups(store.digest_of)
        job = Job(path, config.schedule.timezone, config.taxonomy.path, known, force)
        with store.transaction():
            result = ingest(store, job, now, resume=resume, progress=progress)
            for skipped in result.skipped:
                warn(skipped.describe(path))
            for ident in result.duplicates:
                warn(f"{path}: id {ident!r} appears more than once; the last record wins")
            reclassified = 0
            if retuned and store.get_meta(TAXONOMY_KEY) is not None:
                reclassified = _reclassify(store, Classifier(taxonomy))
            store.set_meta(TAXONOMY_KEY, fingerprint)
            counts = {o: result.count(o) for o in Outcome}
            if resume is not None and last is not None:
                # What the previous poll read is still there, byte for byte.
                counts[Outcome.UNCHANGED] += last.new + last.updated + last.unchanged
            tail = result.tail if fmt == "jsonl" else None
            store.record_poll(
                PollRecord(
                    finished_at=now,
                    corpus_path=str(path),
                    size=stat.st_size,
                    mtime_ns=stat.st_mtime_ns,
                    new=counts[Outcome.NEW],
                    updated=counts[Outcome.UPDATED],
                    unchanged=counts[Outcome.UNCHANGED],
                    skipped=len(result.skipped),
                    resume_offset=None if tail is None else tail.offset,
                    resume_lines=None if tail is None else tail.lines,
                    resume_check=None if tail is None else checks.up_to(path, tail.offset),
                    corpus_check=checks.whole,
                )
            )
            crash_point("poll-ingested")
            written = _publish(store, config, taxonomy.tags)
            crash_point("poll-published")
        crash_point("poll-committed")
    return PollResult(
        unchanged=False,
        new=counts[Outcome.NEW],
        updated=counts[Outcome.UPDATED],
        kept=counts[Outcome.UNCHANGED],
        skipped=len(result.skipped),
        reclassified=reclassified,
        resumed=resume is not None,
        written=tuple(written),
    )


@dataclass(frozen=True, slots=True)
class Checks:
    """Checksums of the corpus file taken before reading it, in one pass over its bytes."""

    size: int  # bytes in the file when it was checksummed
    whole: str  # of the whole file
    resume: Part | None  # JSON Lines that only grew: where to resume reading
    prefix: str | None  # of the part the last poll read, when it is unchanged

    def up_to(self, path: Path, length: int) -> str:
        """The checksum of the first `length` bytes, extending what is known already."""
        if length == self.size:
            return self.whole
        return checksum(path, length, since=self.prefix)


def _read_checks(
    path: Path, fmt: str, size: int, last: PollRecord | None, resumable: bool
) -> Checks:
    """Checksum the file before it is read: if it changes while being read, the next poll
    sees a checksum that does not match and reads it again (never the other way round)."""
    if (
        resumable
        and fmt == "jsonl"
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
            return Checks(size, whole, resume, prefix)
        return Checks(size, whole, None, None)
    return Checks(size, checksum(path, size), None, None)


def _reclassify(store: Store, classifier: Classifier) -> int:
    count = 0
    for article in store.articles():  # streamed: writing tags while reading articles is safe
        store.set_tags(
            article.id, classifier.classify(article.title, article.content, explain=False)
        )
        count += 1
    return count


def _outputs_present(config: Config) -> bool:
    from .feeds import OUTPUT_FILES

    return all((config.output.dir / name).exists() for name in OUTPUT_FILES)


def _publish(store: Store, config: Config, tags: tuple[Tag, ...] | None = None) -> list[Path]:
    from .feeds import publish

    if tags is None:
        from .classify import load_taxonomy

        tags = load_taxonomy(config.taxonomy.path).tags
    return publish(store, tags, config)
