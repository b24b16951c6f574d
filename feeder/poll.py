"""One poll: read the corpus, store what is new or edited, classify it, refresh the outputs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Config
from .corpus import Skipped, Tail, scan
from .errors import ConfigError, CorpusError
from .faults import crash_point
from .store import PollRecord, Store

if TYPE_CHECKING:
    from .classify import Classifier
    from .model import Tag

TAXONOMY_KEY = "taxonomy_fingerprint"


class Outcome(Enum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did; `unchanged` means the corpus file was not even read."""

    unchanged: bool
    new: int = 0
    updated: int = 0
    kept: int = 0  # records whose content was already stored as is
    skipped: int = 0
    reclassified: int = 0  # stored articles re-tagged because the taxonomy changed
    written: tuple[Path, ...] = ()  # output files rewritten

    def summary(self) -> str:
        if self.unchanged:
            return "unchanged"
        return (
            f"{self.new} new, {self.updated} updated, {self.kept} unchanged, "
            f"{self.skipped} skipped"
        )


def decide(stored_hash: str | None, content_hash: str) -> Outcome:
    """New id → new; same id with other content → updated; same content → unchanged."""
    if stored_hash is None:
        return Outcome.NEW
    return Outcome.UNCHANGED if stored_hash == content_hash else Outcome.UPDATED


def corpus_unchanged(last: PollRecord | None, path: Path, size: int, mtime_ns: int) -> bool:
    """The file is what the last successful poll saw, judged by path, size and mtime alone."""
    return (
        last is not None
        and last.corpus_path == str(path)
        and last.size == size
        and last.mtime_ns == mtime_ns
    )


def taxonomy_fingerprint(path: Path) -> str:
    """A digest of the taxonomy file, so a poll notices that the categories were retuned."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise ConfigError(f"{path}: taxonomy file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read taxonomy: {exc.strerror}") from None


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
        retuned = store.get_meta(TAXONOMY_KEY) != fingerprint
        if (
            not force
            and not retuned
            and corpus_unchanged(store.last_poll(), path, stat.st_size, stat.st_mtime_ns)
        ):
            if not _outputs_present(config):
                from .classify import load_taxonomy

                with store.transaction():
                    written = _publish(store, load_taxonomy(config.taxonomy.path).tags, config)
                return PollResult(unchanged=True, written=tuple(written))
            return PollResult(unchanged=True)

        # Heavy imports stay here, off the path of a poll that finds nothing to do.
        from .classify import Classifier, load_taxonomy

        taxonomy = load_taxonomy(config.taxonomy.path)
        classifier = Classifier(taxonomy)
        with store.transaction():
            counts, skipped, tail = _ingest(store, classifier, config, force, now, warn, progress)
            reclassified = 0
            if retuned and store.get_meta(TAXONOMY_KEY) is not None:
                reclassified = _reclassify(store, classifier)
            store.set_meta(TAXONOMY_KEY, fingerprint)
            store.record_poll(
                PollRecord(
                    finished_at=now,
                    corpus_path=str(path),
                    size=stat.st_size,
                    mtime_ns=stat.st_mtime_ns,
                    new=counts[Outcome.NEW],
                    updated=counts[Outcome.UPDATED],
                    unchanged=counts[Outcome.UNCHANGED],
                    skipped=skipped,
                    resume_offset=tail.offset if tail else None,
                    resume_lines=tail.lines if tail else None,
                )
            )
            crash_point("poll-ingested")
            written = _publish(store, taxonomy.tags, config)
            crash_point("poll-published")
        crash_point("poll-committed")
    return PollResult(
        unchanged=False,
        new=counts[Outcome.NEW],
        updated=counts[Outcome.UPDATED],
        kept=counts[Outcome.UNCHANGED],
        skipped=skipped,
        reclassified=reclassified,
        written=tuple(written),
    )


def _ingest(
    store: Store,
    classifier: Classifier,
    config: Config,
    force: bool,
    now: datetime,
    warn: Callable[[str], None],
    progress: Callable[[int], None] | None,
) -> tuple[dict[Outcome, int], int, Tail | None]:
    path = config.corpus.path
    known = store.known_hashes()
    outcomes: dict[str, Outcome] = {}
    skipped = 0
    records = scan(path, config.tz, progress=progress)
    tail: Tail | None = None
    while True:
        try:
            item = next(records)
        except StopIteration as stop:
            tail = stop.value
            break
        if isinstance(item, Skipped):
            skipped += 1
            warn(item.describe(path))
            continue
        content_hash = item.content_hash
        change = decide(known.get(item.id), content_hash)
        previous = outcomes.get(item.id)
        if previous is not None:
            warn(f"{path}: id {item.id!r} appears more than once; the last record wins")
        # An id counts once, as what happened to it since the previous poll.
        outcome = previous if previous in (Outcome.NEW, Outcome.UPDATED) else change
        outcomes[item.id] = outcome
        if change is Outcome.UNCHANGED and not force:
            continue
        store.put_article(item, content_hash, now, edited=outcome is Outcome.UPDATED)
        known[item.id] = content_hash
        store.set_tags(item.id, classifier.classify(item.title, item.content))
    counts = dict.fromkeys(Outcome, 0)
    for outcome in outcomes.values():
        counts[outcome] += 1
    return counts, skipped, tail


def _reclassify(store: Store, classifier: Classifier) -> int:
    count = 0
    for article in store.articles():  # streamed: writing tags while reading articles is safe
        store.set_tags(article.id, classifier.classify(article.title, article.content))
        count += 1
    return count


def _outputs_present(config: Config) -> bool:
    from .feeds import OUTPUT_FILES

    return all((config.output.dir / name).exists() for name in OUTPUT_FILES)


def _publish(store: Store, tags: tuple[Tag, ...], config: Config) -> list[Path]:
    from .feeds import publish

    return publish(store, tags, config)
