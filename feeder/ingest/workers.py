"""Ingesting a corpus file into the store: read, compare, normalise, classify, write.

A large file is cut into byte ranges (parts.py) read by worker processes, each parsing,
normalising and classifying its own range, while this process writes their rows to the
store: the work beyond parsing runs beside the parse instead of after it. A record whose
digest matches the stored one is neither normalised nor classified.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import NamedTuple, cast
from zoneinfo import ZoneInfo

from ..classify import Classifier, load_taxonomy
from ..errors import CorpusError
from ..faults import crash_point
from ..model import Article, ArticleRow, Change, WriteMode
from ..schedule import ARTICLE_YEARS
from ..storage import ArticleStore, article_row
from ..text import shorten
from .corpus import read_records, to_article
from .limits import unreadable
from .normalise import BadRecord
from .parts import split
from .plan import decide, write_mode
from .records import WHOLE, Part, Record, Skipped, Tail

# Below this size a file is read in this process: starting workers costs more than it saves.
PARALLEL_MIN_BYTES = 32 << 20
WORKERS = 2
BATCH = 256  # records per message from a worker: few messages, little memory in flight


@dataclass(frozen=True)
class Job:
    """What every reader of a part needs to know; sent to worker processes as is."""

    path: Path
    timezone: str
    taxonomy: Path
    known: Mapping[str, str]  # stored digests by id, as before this poll
    force: bool  # normalise and classify even records whose digest is unchanged
    years: tuple[int, int] = ARTICLE_YEARS  # an article dated outside these years is skipped


# Items travel between processes in bulk: named tuples, where frozen dataclasses with slots
# took 0.5 ms each to unpickle, and even those as plain tuples (see _pack).


class Seen(NamedTuple):
    """A record whose digest is unchanged: only its id and place travel."""

    position: int
    id: str


class Changed(NamedTuple):
    """A record to write: normalised and classified."""

    position: int
    change: str  # a Change's value: new, updated (or unchanged, when forced)
    row: ArticleRow


class Crashed(NamedTuple):
    """How a worker ends on an exception that is not a CorpusError: a bug, to be shown."""

    error: str  # the exception's type and message


@dataclass
class IngestResult:
    """What an ingest did, by id, and where a later JSON Lines read may resume."""

    outcomes: dict[str, Change] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)  # positions are file-wide
    duplicates: list[str] = field(default_factory=list)  # ids found more than once
    tail: Tail | None = None

    def count(self, change: Change) -> int:
        return sum(1 for c in self.outcomes.values() if c is change)


PartItem = Skipped | Seen | Changed  # what reading a part yields, record by record
_CHANGES = {change.value: change for change in Change}


def ingest(
    store: ArticleStore,
    job: Job,
    now: datetime,
    *,
    resume: Part | None = None,
    progress: Callable[[int], None] | None = None,
    warn: Callable[[str], None] = lambda _message: None,
) -> IngestResult:
    """Bring the store's articles and tags up to date with the corpus, inside the caller's
    transaction. CorpusError if the file cannot be read; the caller then rolls back.

    `warn` hears of a worker process that died (killed, say) or met a bug: its part, and
    with it the whole file, is then read again in this process.
    """
    if resume is not None:
        return _Writer(store, job, now).run_here(resume, progress)
    try:
        size = job.path.stat().st_size
    except OSError as exc:
        raise unreadable(job.path, exc) from None
    parts = split(job.path, WORKERS) if size >= PARALLEL_MIN_BYTES and _cores() > 1 else []
    if len(parts) > 1:
        try:
            with store.savepoint("parallel_ingest"):
                return _Writer(store, job, now).run_workers(parts, progress)
        except _WorkerFailed as failed:
            warn(f"{failed}; reading the whole file again in this process")
        except _PartFailed:
            # A cut inside a nested object, or a file that is really broken: read it
            # whole, which either works or names the real problem with its position.
            pass
    # The reader cannot crash the process on any input (see corpus.py), so reading here
    # is safe whatever made a worker fail.
    return _Writer(store, job, now).run_here(WHOLE, progress)


class FirstLookups(Mapping[str, str]):
    """Stored digests fetched one id at a time and remembered as first seen.

    For reading a short appended tail: no need to load every digest, and an id met twice
    is compared with what was stored before this poll, not with its first record's write.
    """

    def __init__(self, lookup: Callable[[str], str | None]) -> None:
        self._lookup = lookup
        self._seen: dict[str, str | None] = {}

    def __getitem__(self, key: str) -> str:
        if key not in self._seen:
            self._seen[key] = self._lookup(key)
        value = self._seen[key]
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return (key for key, value in self._seen.items() if value is not None)

    def __len__(self) -> int:
        return sum(1 for value in self._seen.values() if value is not None)


# -- Reading one part: in this process or in a worker ------------------------------------


def read_part(
    job: Job, part: Part, progress: Callable[[int], None] | None
) -> Generator[PartItem, None, Tail]:
    """Each record of the part as Skipped, Seen or Changed; returns its Tail at the end."""
    tz, years = ZoneInfo(job.timezone), job.years
    classifier = Classifier(load_taxonomy(job.taxonomy))
    records = read_records(job.path, part, progress)
    while True:
        try:
            record = next(records)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if isinstance(record, Skipped):
            yield record
            continue
        change = decide(job.known.get(record.id), record.digest)
        if change is Change.UNCHANGED and not job.force:
            yield Seen(record.position, record.id)
            continue
        try:
            article = to_article(record, tz, years)
        except BadRecord as exc:
            yield Skipped(record.position, record.id, str(exc))
            continue
        verdict = classifier.classify(article.title, article.content, explain=False)
        yield Changed(record.position, change.value, article_row(article, record.digest, verdict))


# Pickle rebuilds a named tuple by calling its __new__, a Python function, and takes it apart
# through __getnewargs__, another: for a cold poll's rows that was half of the cost of the
# pipe. A worker sends Seen and Changed as plain tuples, told apart by their length, and the
# poll rebuilds them with tuple.__new__, which runs no Python code.
Packed = tuple[int, str] | tuple[int, str, tuple[object, ...]] | Skipped


def _pack(batch: list[PartItem]) -> list[Packed]:
    return [
        (item[0], item[1], tuple(item[2]))
        if type(item) is Changed
        else (item[0], item[1])
        if type(item) is Seen
        else item
        for item in batch
    ]


def _unpack(packed: list[Packed]) -> Iterator[PartItem]:
    new = tuple.__new__
    for item in packed:
        if isinstance(item, Skipped):
            yield item
        elif len(item) == 2:
            yield new(Seen, item)
        else:
            yield new(Changed, (item[0], item[1], new(ArticleRow, item[2])))


def _worker(job: Job, part: Part, conn: Connection) -> None:
    """A worker process: send batches of items, then its Tail (or the error's message)."""
    # Ctrl-C reaches the whole process group: the poll decides, and ends its workers. The
    # worker started with SIGINT blocked (see _start), so one pressed while it was still
    # importing is dropped here instead of printing that import's traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    read = 0

    def count(n: int) -> None:
        nonlocal read
        read += n

    batch: list[PartItem] = []
    items = read_part(job, part, count)
    try:
        while True:
            try:
                batch.append(next(items))
            except StopIteration as stop:
                conn.send((_pack(batch), read, stop.value))
                return
            if len(batch) >= BATCH:
                conn.send((_pack(batch), read, None))
                batch, read = [], 0
                crash_point("ingest-batch-sent")  # a worker killed mid-part, for the tests
    except CorpusError as exc:
        with contextlib.suppress(OSError):
            conn.send(([], read, str(exc)))
    except OSError:
        pass  # the poll is gone (killed, or gave up on this part): nobody to tell
    except Exception as exc:  # a bug: the poll says so, and reads the part itself
        with contextlib.suppress(OSError):
            conn.send(([], read, Crashed(shorten(f"{type(exc).__name__}: {exc}", 200))))
    finally:
        conn.close()


def _start(process: multiprocessing.process.BaseProcess) -> None:
    """Start a worker with SIGINT blocked: the new process inherits the mask until _worker
    ignores the signal; here a Ctrl-C is only delayed until the start returns."""
    # The first start also starts multiprocessing's resource tracker, which unblocks SIGINT
    # after spawning it: start the tracker first, so that nothing unblocks it mid-start.
    resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _PartFailed(Exception):
    """A part could not be read on its own."""


class _WorkerFailed(_PartFailed):
    """A worker process died (killed, crashed) or met a bug: worth a warning."""


class _Writer:
    """Takes items from the parts, in any order between parts, and writes them."""

    def __init__(self, store: ArticleStore, job: Job, now: datetime) -> None:
        self.store = store
        self.job = job
        self.now = now
        self.result = IngestResult()
        self.last: dict[str, tuple[int, int]] = {}  # id → (part, position) of its last record
        self.duplicates: set[str] = set()
        self.pending: list[ArticleRow] = []
        self.modes: list[WriteMode] = []
        self.skipped: list[tuple[int, Skipped]] = []
        self.sizes: dict[int, int] = {}  # records (or lines) per finished part
        self.tail: Tail | None = None  # the last part's
        self.last_part = 0

    def run_here(self, part: Part, progress: Callable[[int], None] | None) -> IngestResult:
        items = read_part(self.job, part, progress)
        while True:
            try:
                item = next(items)
            except StopIteration as stop:
                self.finish_part(0, stop.value)
                break
            self.take(0, item)
        return self.close()

    def run_workers(
        self, parts: list[Part], progress: Callable[[int], None] | None
    ) -> IngestResult:
        context = multiprocessing.get_context("spawn")  # no fork: the daemon has threads
        self.last_part = len(parts) - 1
        readers: dict[Connection, int] = {}
        processes = []
        for index, part in enumerate(parts):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker, args=(self.job, part, send), name=f"feeder-ingest-{index}"
            )
            _start(process)
            send.close()
            readers[receive] = index
            processes.append(process)
        try:
            while readers:
                for ready in wait(list(readers)):
                    conn = cast(Connection, ready)
                    index = readers[conn]
                    try:
                        batch, read, end = conn.recv()
                    except (EOFError, OSError):
                        how = _how_it_ended(processes[index])
                        raise _WorkerFailed(_failed(self.job.path, parts[index], how)) from None
                    if progress is not None and read:
                        progress(read)
                    for item in _unpack(batch):
                        self.take(index, item)
                    if isinstance(end, str):
                        raise _PartFailed(end)
                    if isinstance(end, Crashed):
                        how = f"failed: {end.error}"
                        raise _WorkerFailed(_failed(self.job.path, parts[index], how))
                    if isinstance(end, Tail):
                        self.finish_part(index, end)
                        del readers[conn]
                        conn.close()
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()
                process.join()
        return self.close()

    def take(self, part: int, item: PartItem) -> None:
        if isinstance(item, Skipped):
            self.skipped.append((part, item))
            return
        ident = item.id if isinstance(item, Seen) else item.row.id
        place = (part, item.position)
        previous = self.last.get(ident)
        if previous is not None:
            self.duplicates.add(ident)
            if previous > place:
                return  # a later record of this id was taken already: it wins
        self.last[ident] = place
        if isinstance(item, Seen):
            self.result.outcomes[ident] = Change.UNCHANGED
            return
        change = _CHANGES[item.change]  # Change(value) runs Enum's Python lookup: 2 µs a row
        self.result.outcomes[ident] = change
        self.pending.append(item.row)
        # A second record of a new id overwrites the first instead of inserting it again.
        self.modes.append(write_mode(change, again=previous is not None))
        if len(self.pending) >= BATCH:
            self.flush()

    def finish_part(self, part: int, tail: Tail) -> None:
        self.sizes[part] = tail.lines  # records (or lines) up to the part's end
        if part == self.last_part:
            self.tail = tail

    def flush(self) -> None:
        if self.pending:
            self.store.put_articles(self.pending, self.now, self.modes)
            self.pending, self.modes = [], []

    def close(self) -> IngestResult:
        self.flush()
        if self.duplicates:
            self._settle_duplicates()
        offsets, total = {}, 0
        for part in sorted(self.sizes):
            offsets[part] = total
            total += self.sizes[part]
        self.result.skipped = sorted(
            (
                Skipped(offsets.get(part, 0) + s.position, s.id, s.reason)
                for part, s in self.skipped
            ),
            key=lambda s: s.position,
        )
        self.result.duplicates = sorted(self.duplicates)
        if self.tail is not None:  # its line count covers its own part only
            self.result.tail = Tail(self.tail.offset, total, self.tail.incomplete)
        return self.result

    def _settle_duplicates(self) -> None:
        """Write each duplicated id's last valid record, whatever order the parts came in.

        Rare, so done the simple way: one more read of the file, keeping only those ids.
        """
        tz = ZoneInfo(self.job.timezone)
        winners: dict[str, tuple[Record, Article]] = {}
        for record in read_records(self.job.path):
            if isinstance(record, Record) and record.id in self.duplicates:
                with contextlib.suppress(BadRecord):
                    winners[record.id] = (record, to_article(record, tz, self.job.years))
        classifier = Classifier(load_taxonomy(self.job.taxonomy))
        rows, modes = [], []
        for ident, (record, article) in winners.items():
            change = decide(self.job.known.get(ident), record.digest)
            self.result.outcomes[ident] = change
            rows.append(article_row(article, record.digest, classifier.classify_article(article)))
            # An overwrite either way: an earlier record of the id may have been stored.
            modes.append(write_mode(change, again=True))
        self.store.put_articles(rows, self.now, modes)


def _how_it_ended(process: multiprocessing.process.BaseProcess) -> str:
    """How a worker that closed its pipe without a word ended: killed, or crashed."""
    process.join(timeout=5)  # its pipe closed as it died; the exit status follows at once
    code = process.exitcode
    if code is None:
        return "closed its pipe"
    if code < 0:
        try:
            return f"ended with signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"ended with signal {-code}"
    return f"ended with exit status {code}"


def _failed(path: Path, part: Part, how: str) -> str:
    """One line on a part whose worker failed: which bytes of the corpus, and how."""
    where = f"{part.start}–{part.end}" if part.end is not None else f"{part.start} to the end"
    return f"{path}: reading bytes {where} failed: worker {how}"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
