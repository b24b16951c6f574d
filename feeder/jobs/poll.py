"""The poll: bring the state and the outputs up to date with the corpus, in one transaction;
and the build, which writes the outputs from the state alone.

A poll reads the corpus only when it must. The file the last poll saw (same path, size and
mtime, same taxonomy) only gets the articles still pending published; the same bytes under
a new mtime get the new mtime noted; JSON Lines that only grew are read from where the last
poll stopped. Those decisions are pure (`Before`, `ingest/plan.py`); the steps that do the
work are named below `poll`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ..classify import Classifier, Taxonomy, taxonomy_fingerprint
from ..classify.correct import corrected
from ..config import Config, OutputSection
from ..errors import CorpusError, FeederError
from ..faults import crash_point
from ..ingest.corpus import detect_format
from ..ingest.plan import ReadPlan, corpus_unchanged, plan_read
from ..ingest.records import Tail
from ..ingest.workers import FirstLookups, IngestResult, Job, ingest
from ..model import Change, CorpusFormat, PollAttempt, PollOutcome, PollRecord, PollResult, Tag
from ..publish import publish
from ..publish.build import PublishStore
from ..publish.websub import changed_feeds, ping_hub
from ..site import site_files
from ..storage.stores import ArticleStore, LabelStore, MetaStore, PollStore

TAXONOMY_KEY = "taxonomy_fingerprint"  # meta: the taxonomy the stored tags come from
POLL_KEY = "last_poll_attempt"  # meta: the last poll's outcome, as JSON

Warn = Callable[[str], None]
Progress = Callable[[int], None]


def _ignore(_message: str) -> None:
    pass


class PollStores(ArticleStore, LabelStore, PollStore, PublishStore, Protocol):
    """What a poll reads and writes: the articles, the people's verdicts, the polls, and
    what publishing needs."""


@dataclass(frozen=True, slots=True)
class Corpus:
    """The corpus file as the poll found it."""

    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Before:
    """What the state knew before this poll, and the decisions that follow from it. Pure."""

    last: PollRecord | None  # the last poll that succeeded
    tagged_with: str | None  # fingerprint of the taxonomy the stored tags come from
    taxonomy: str  # fingerprint of the taxonomy file now

    @property
    def retuned(self) -> bool:
        """The taxonomy is not the one the stored tags come from."""
        return self.tagged_with != self.taxonomy

    def trusted(self, force: bool) -> bool:
        """What the last poll read may stand: not forced, and the taxonomy is the same."""
        return not force and not self.retuned

    def unchanged(self, corpus: Corpus, force: bool) -> bool:
        """The corpus file is the one the last poll read, by path, size and mtime."""
        return self.trusted(force) and corpus_unchanged(
            self.last, corpus.path, corpus.size, corpus.mtime_ns
        )

    @property
    def retag_all(self) -> bool:
        """Every stored article is tagged again: the taxonomy changed since the last poll
        (on the first poll there are no stored tags to redo)."""
        return self.retuned and self.tagged_with is not None


def poll(
    store: PollStores,
    config: Config,
    taxonomy: Callable[[], Taxonomy],
    clock: Callable[[], datetime],
    *,
    locked: Callable[[], AbstractContextManager[None]],
    force: bool = False,
    warn: Warn = _ignore,
    progress: Progress | None = None,
) -> PollResult:
    """Bring the state and the outputs up to date with the corpus, holding `locked()` for
    the part that writes; then tell the WebSub hub which feeds changed, and note how the
    attempt ended (for /healthz and /metrics), a failed one too.

    The outputs are written before the transaction commits: if writing them fails, the
    state stays where it was and the next poll tries again. `taxonomy` is read only when
    the poll needs it (a corpus rewritten with the same bytes needs none).
    """
    started, outcome, error = time.monotonic(), PollOutcome.FAILED, None
    try:
        with locked():
            result = update(store, config, taxonomy, clock(), force, warn, progress)
        outcome = PollOutcome.READ if result.read else PollOutcome.UNCHANGED
        announce(result.written, config.output, warn)
        return result
    except FeederError as exc:
        error = str(exc)
        raise
    finally:
        note_attempt(store, PollAttempt(clock(), outcome, time.monotonic() - started, error))


def update(
    store: PollStores,
    config: Config,
    taxonomy: Callable[[], Taxonomy],
    now: datetime,
    force: bool,
    warn: Warn,
    progress: Progress | None,
) -> PollResult:
    """The poll's work, inside the lock."""
    corpus = look_at(config.corpus.path)
    before = Before(
        store.last_poll(), store.get_meta(TAXONOMY_KEY), taxonomy_fingerprint(config.taxonomy.path)
    )
    if before.unchanged(corpus, force):
        return publish_pending(store, taxonomy().tags, config)
    fmt = detect_format(corpus.path)
    plan = plan_read(corpus.path, fmt, corpus.size, before.last, resumable=before.trusted(force))
    if before.trusted(force) and plan.same_bytes(before.last, corpus.path):
        return note_touched(store, corpus)
    return read_corpus(
        store, config, taxonomy(), now, corpus, before, fmt, plan, force, warn, progress
    )


def look_at(path: Path) -> Corpus:
    """The corpus file's size and mtime; CorpusError if it cannot be had."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise CorpusError(f"{path}: corpus file not found") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read corpus: {exc.strerror}") from None
    return Corpus(path, stat.st_size, stat.st_mtime_ns)


def publish_pending(store: PublishStore, tags: Sequence[Tag], config: Config) -> PollResult:
    """The corpus is as the last poll read it: publish only if articles are still pending
    (a state just upgraded to archived feeds, say) or an output file is missing."""
    outputs = site_files(tags, [feed.name for feed in config.feeds])
    if all((config.output.dir / n).exists() for n in outputs) and not store.pending_ids():
        return PollResult(read=False)
    with store.transaction():
        written = publish(store, tags, config)
    return PollResult(read=False, written=tuple(written))


def note_touched(store: PollStore, corpus: Corpus) -> PollResult:
    """Rewritten with the same bytes (a new mtime, say): nothing to read; note the mtime."""
    with store.transaction():
        store.touch_last_poll(corpus.mtime_ns)
    return PollResult(read=False)


def read_corpus(
    store: PollStores,
    config: Config,
    taxonomy: Taxonomy,
    now: datetime,
    corpus: Corpus,
    before: Before,
    fmt: CorpusFormat,
    plan: ReadPlan,
    force: bool,
    warn: Warn,
    progress: Progress | None,
) -> PollResult:
    """Read the corpus (from where the last poll stopped, if the plan says so), tag what it
    wrote, record the poll and publish, in one transaction."""
    path, resume = corpus.path, plan.resume
    # A resumed read meets a few ids: look them up one by one instead of loading all.
    known = store.known_digests() if resume is None else FirstLookups(store.digest_of)
    job = Job(
        path, config.schedule.timezone, config.taxonomy.path, known, force, config.corpus.years
    )
    with store.transaction():
        result = ingest(store, job, now, resume=resume, progress=progress, warn=warn)
        for skipped in result.skipped:
            warn(skipped.describe(path))
        for ident in result.duplicates:
            warn(f"{path}: id {ident!r} appears more than once; the last record wins")
        classifier, reclassified = Classifier(taxonomy), 0
        if before.retag_all:
            reclassified = reclassify(store, classifier)
        else:
            apply_labels(store, classifier)
        store.set_meta(TAXONOMY_KEY, before.taxonomy)
        counts = tally(result, before.last if resume is not None else None)
        tail = result.tail if fmt is CorpusFormat.JSONL else None
        check = None if tail is None else plan.check_up_to(path, tail.offset)
        store.record_poll(poll_record(now, corpus, counts, len(result.skipped), tail, check, plan))
        crash_point("poll-ingested")
        written = publish(store, taxonomy.tags, config)
        crash_point("poll-published")
    crash_point("poll-committed")
    return PollResult(
        read=True,
        new=counts[Change.NEW],
        updated=counts[Change.UPDATED],
        unchanged=counts[Change.UNCHANGED],
        skipped=len(result.skipped),
        reclassified=reclassified,
        resumed=resume is not None,
        written=tuple(written),
    )


def tally(result: IngestResult, resumed_from: PollRecord | None) -> dict[Change, int]:
    """How many records of each kind the corpus holds now. A resumed read saw only what was
    appended: what the previous poll read is still there, byte for byte. Pure."""
    counts = {change: result.count(change) for change in Change}
    if resumed_from is not None:
        last = resumed_from
        counts[Change.UNCHANGED] += last.new + last.updated + last.unchanged
    return counts


def poll_record(
    now: datetime,
    corpus: Corpus,
    counts: dict[Change, int],
    skipped: int,
    tail: Tail | None,
    check: str | None,
    plan: ReadPlan,
) -> PollRecord:
    """What the state keeps of this poll, for the next one to decide from. Pure."""
    return PollRecord(
        finished_at=now,
        corpus_path=str(corpus.path),
        size=corpus.size,
        mtime_ns=corpus.mtime_ns,
        new=counts[Change.NEW],
        updated=counts[Change.UPDATED],
        unchanged=counts[Change.UNCHANGED],
        skipped=skipped,
        resume_offset=None if tail is None else tail.offset,
        resume_lines=None if tail is None else tail.lines,
        resume_check=check,
        corpus_check=plan.whole,
    )


def reclassify(store: PollStores, classifier: Classifier) -> int:
    """Tag every stored article again (the taxonomy changed); a person's verdict stands."""
    corrections = {c.article_id: c for c in store.labels()}
    count = 0
    for article in store.articles():  # streamed: writing tags meanwhile is safe
        verdict = classifier.classify(article.title, article.content, explain=False)
        store.set_tags(article.id, corrected(verdict, corrections.get(article.id)))
        count += 1
    return count


def apply_labels(store: PollStores, classifier: Classifier) -> None:
    """The labelled articles this poll wrote (still pending publication) get their tags
    as the recorded verdict says: the categoriser has just tagged them afresh. The other
    labelled articles keep the tags their verdict gave them when it was recorded."""
    corrections = store.labels()
    written = set(store.pending_ids()) if corrections else set()
    for correction in corrections:
        article = store.article(correction.article_id)
        if article is not None and article.id in written:
            verdict = classifier.classify(article.title, article.content, explain=False)
            store.set_tags(article.id, corrected(verdict, correction))


def announce(written: Sequence[Path], output: OutputSection, warn: Warn) -> None:
    """Tell the WebSub hub, if there is one, which feeds changed. Only after the poll: the
    state has committed (a ping before could announce bytes a rollback takes back), and the
    lock is released, so a slow hub holds up no other job. Failures are warnings only;
    through `warn` they reach the daemon's log and the CLI's stderr."""
    topics = changed_feeds(written, output.dir, output.base_url)
    if output.websub_hub and topics:
        for problem in ping_hub(output.websub_hub, topics):
            warn(problem)


def note_attempt(store: MetaStore, attempt: PollAttempt) -> None:
    """Keep the last poll's outcome for /metrics and /healthz, a failed one too (its own
    transaction: the poll's rolled back). A state that cannot be written keeps the old."""
    with contextlib.suppress(FeederError), store.transaction():
        store.set_meta(POLL_KEY, json.dumps(attempt.as_dict()))


def last_attempt(store: MetaStore) -> PollAttempt | None:
    """The last poll's time, outcome and duration, whether it succeeded or not."""
    text = store.get_meta(POLL_KEY)
    return None if text is None else PollAttempt.from_dict(json.loads(text))


def build(store: PublishStore, tags: Sequence[Tag], config: Config) -> list[Path]:
    """Rebuild the feeds, OPML, index page and archives from the state, without polling: in
    one transaction, so that every file is built from the same snapshot of the state."""
    with store.transaction():
        return publish(store, tags, config)
