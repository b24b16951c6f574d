"""The facade: `open_feeder(config)` gives a `Feeder`, the one way in for the CLI, the daemon
and (soon) the web pages. It owns the state, the lock, the clock and the taxonomy; every
front end parses its input, calls one method, and presents the result.

Every job that writes the state in several steps or the output folder (poll, build, preview,
send) holds the job lock for its duration, waiting up to LOCK_WAIT seconds for another job
(a daemon's poll, say) to finish. Subscriber changes are single transactions and need none.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from .classify import Classifier, Taxonomy, load_taxonomy, taxonomy_fingerprint
from .classify.correct import corrected
from .classify.evaluate import Label, Report, check_labels, evaluate, load_labels
from .classify.suggest import Suggestion, suggest
from .config import Config
from .errors import ConfigError, CorpusError, FeederError, InputError, StateError
from .faults import crash_point
from .files import remove_temp_files
from .ingest.corpus import detect_format, read_articles
from .ingest.plan import corpus_unchanged, plan_read
from .ingest.workers import FirstLookups, Job, ingest
from .lock import Holder, hold_lock, holder
from .model import (
    Article,
    Change,
    Classification,
    CorpusFormat,
    Correction,
    IssueRecord,
    PollAttempt,
    PollOutcome,
    PollRecord,
    PollResult,
    Subscriber,
    SubscriberStatus,
    Tag,
)
from .newsletter import bounces, signup
from .newsletter import subscribers as people
from .newsletter.dkim import Signer, dns_records, load_signer
from .newsletter.ledger import SendReport, send_issue
from .newsletter.preview import latest_week, write_preview
from .newsletter.smtp import SmtpFactory, check_credentials, smtp_password
from .publish import publish
from .publish.archive import publish_archive
from .publish.custom import check_custom_feeds
from .publish.websub import changed_feeds, ping_hub
from .scaffold import scaffold
from .schedule import cron_trigger, due_week, last_full_week, next_slot
from .site import page_url, site_files
from .status import Status
from .storage import (
    Copied,
    Storage,
    copy_storage,
    is_url,
    migrate_storage,
    open_storage,
)
from .tokens import Purpose, mint

# How long a job waits for another one (a daemon's poll or send) to finish.
LOCK_WAIT = 30.0
TAXONOMY_KEY = "taxonomy_fingerprint"  # meta: the taxonomy the stored tags come from
POLL_KEY = "last_poll_attempt"  # meta: the last poll's outcome, as JSON
SECRET_KEY = "secret"  # meta: the generated secret, when $FEEDER_SECRET gives none
SECRET_ENV = "FEEDER_SECRET"
MIN_SECRET = 16  # characters of $FEEDER_SECRET
FORM_MAX_AGE = timedelta(hours=2)  # how long a web form may be filled in
PERSONAL_PAGES = (Purpose.PREFERENCES, Purpose.UNSUBSCRIBE)  # in PersonalLinks' order

Warn = Callable[[str], None]


def _ignore(_message: str) -> None:
    pass


@dataclass(frozen=True, slots=True)
class Classified:
    """The verdicts on a corpus file, and the taxonomy that gave them (to explain them)."""

    taxonomy: Taxonomy
    verdicts: Iterator[tuple[Article, Classification]]  # streamed, in file order


@dataclass(frozen=True, slots=True)
class PersonalLinks:
    """A subscriber's own pages, as absolute URLs."""

    preferences: str
    unsubscribe: str


@dataclass(frozen=True, slots=True)
class Due:
    """What `send_due` found and did."""

    week: str | None  # the week whose issue is due; None if nothing is
    report: SendReport | None = None  # the send's report; None if nothing was sent
    nobody: bool = False  # due, but nobody is subscribed yet


def open_feeder(
    config: Config,
    *,
    clock: Callable[[], datetime] | None = None,
    smtp_factory: SmtpFactory | None = None,
    lock_wait: float = LOCK_WAIT,
    upgrade: bool = True,
) -> Feeder:
    """The application over one configuration. Nothing is opened until a method needs it.

    `upgrade=False` (the daemon, `serve`) refuses a state whose schema is out of date
    instead of upgrading a SQLite file in place; a PostgreSQL state is only ever upgraded
    by `feeder state migrate`."""
    return Feeder(config, clock or (lambda: datetime.now(UTC)), smtp_factory, lock_wait, upgrade)


def init_folder(folder: Path) -> list[Path]:
    """Start a new installation in `folder`: a commented feeder.toml and copies of the
    packaged taxonomy and templates, never overwriting a file. Returns the files written.

    A function, not a Feeder method: there is no config to open a Feeder over yet.
    """
    return scaffold(folder)


class Feeder:
    """One feeder installation: its state, lock, clock and taxonomy. Close it when done
    (or use it as a context manager)."""

    def __init__(
        self,
        config: Config,
        clock: Callable[[], datetime],
        smtp_factory: SmtpFactory | None,
        lock_wait: float,
        upgrade: bool = True,
    ) -> None:
        self.config = config
        self._upgrade = upgrade
        self._clock = clock
        self._smtp_factory = smtp_factory
        self._lock_wait = lock_wait
        self._storage: Storage | None = None
        self._taxonomy: Taxonomy | None = None
        self._secret: bytes | None = None
        self._signer: Signer | None = None

    def __enter__(self) -> Feeder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._storage is not None:
            self._storage.close()
            self._storage = None

    # -- What it owns ------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock().replace(microsecond=0)

    @property
    def storage(self) -> Storage:
        """The state, opened (created and upgraded if need be) on first use."""
        if self._storage is None:
            self._storage = open_storage(
                self.config.state.location, self.config.tz, upgrade=self._upgrade
            )
        return self._storage

    @property
    def taxonomy(self) -> Taxonomy:
        """The configured taxonomy, read and validated on first use."""
        if self._taxonomy is None:
            taxonomy = load_taxonomy(self.config.taxonomy.path)
            # The custom feeds' tags can be checked only now; a poll fails before it reads.
            check_custom_feeds(self.config.feeds, taxonomy.tags)
            self._taxonomy = taxonomy
        return self._taxonomy

    @property
    def tags(self) -> tuple[Tag, ...]:
        return self.taxonomy.tags

    @contextmanager
    def locked(self, role: str, wait: float | None = None) -> Iterator[None]:
        """Hold the state lock for a job that writes the state or the output folder, waiting
        up to `wait` seconds (default: the Feeder's lock_wait) for another holder.

        On one machine it is a file lock beside the state file. On a shared state several
        hosts coordinate in the database itself: an advisory lock there.

        The holder is the only writer, so a temporary file in the output folder can only be
        what a killed writer left: it is removed at once.
        """
        wait = self._lock_wait if wait is None else wait
        if self.storage.shared:
            with self.storage.exclusive("jobs", wait):
                remove_temp_files(self.config.output.dir)
                yield
            return
        with hold_lock(self.config.lock_path, role, wait=wait):
            remove_temp_files(self.config.output.dir)
            yield

    @contextmanager
    def sending(self) -> Iterator[None]:
        """What a send holds. On one machine, the job lock; on a shared state nothing: the
        daemons claim disjoint batches of recipients in the ledger and send side by side."""
        if self.storage.shared:
            yield
            return
        with self.locked("newsletter send"):
            yield

    @contextmanager
    def single_instance(self) -> Iterator[None]:
        """Held by a daemon for its life. One daemon per state file; on a shared state,
        several daemons (on several hosts) are the point, so nothing is held."""
        if self.storage.shared:
            yield
            return
        with hold_lock(self.config.daemon_lock_path, "daemon"):
            yield

    def migrate(self) -> tuple[int, int]:
        """Upgrade the state's schema to this feeder's: (the version before, after)."""
        self.close()
        return migrate_storage(self.config.state.location, self.config.tz)

    def copy_state(self, target: str) -> list[Copied]:
        """Copy the whole state into an empty one at `target` (a SQLite file or a
        postgresql:// URL), checking each table's count. The jobs are held off meanwhile."""
        if is_url(target):
            parts = urlsplit(target)
            if parts.password is not None:
                raise ConfigError(
                    "--to must not hold a password: give it in $PGPASSWORD or ~/.pgpass"
                )
            where: Path | str = target
        else:
            where = Path(target).resolve()
        if str(where) == str(self.config.state.location):
            raise StateError(f"{target}: that is the state being copied; name another")
        with self.locked("state copy"):
            return copy_storage(self.storage, where, self.config.tz)

    # -- Polling and publishing ------------------------------------------------------------

    def poll(
        self,
        *,
        force: bool = False,
        warn: Warn = _ignore,
        progress: Callable[[int], None] | None = None,
        wait: float | None = None,
    ) -> PollResult:
        """Bring the state and the outputs up to date with the corpus, in one transaction.

        The outputs are written before the transaction commits: if writing them fails, the
        state stays where it was and the next poll tries again.
        """
        started, outcome, error = time.monotonic(), PollOutcome.FAILED, None
        try:
            with self.locked("poll", wait):
                result = self._poll(force, warn, progress)
            outcome = PollOutcome.READ if result.read else PollOutcome.UNCHANGED
            self._announce(result.written, warn)
            return result
        except FeederError as exc:
            error = str(exc)
            raise
        finally:
            self._note_poll(PollAttempt(self.now(), outcome, time.monotonic() - started, error))

    def _announce(self, written: Sequence[Path], warn: Warn) -> None:
        """Tell the WebSub hub, if there is one, which feeds changed. Only now: the state has
        committed (a ping before could announce bytes a rollback takes back), and the lock is
        released, so a slow hub holds up no other job. Failures are warnings only; through
        `warn` they reach the daemon's log and the CLI's stderr."""
        output = self.config.output
        topics = changed_feeds(written, output.dir, output.base_url)
        if output.websub_hub and topics:
            for problem in ping_hub(output.websub_hub, topics):
                warn(problem)

    def _note_poll(self, attempt: PollAttempt) -> None:
        """Keep the last poll's outcome for /metrics and /healthz, a failed one too (its own
        transaction: the poll's rolled back). A state that cannot be written keeps the old."""
        with contextlib.suppress(FeederError), self.storage.transaction():
            self.storage.set_meta(POLL_KEY, json.dumps(attempt.as_dict()))

    def last_poll_attempt(self) -> PollAttempt | None:
        """The last poll's time, outcome and duration, whether it succeeded or not."""
        text = self.storage.get_meta(POLL_KEY)
        return None if text is None else PollAttempt.from_dict(json.loads(text))

    def _poll(self, force: bool, warn: Warn, progress: Callable[[int], None] | None) -> PollResult:
        config, now = self.config, self.now()
        path = config.corpus.path
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise CorpusError(f"{path}: corpus file not found") from None
        except OSError as exc:
            raise CorpusError(f"{path}: cannot read corpus: {exc.strerror}") from None
        fingerprint = taxonomy_fingerprint(config.taxonomy.path)
        storage = self.storage
        last = storage.last_poll()
        retuned = storage.get_meta(TAXONOMY_KEY) != fingerprint
        fresh = not force and not retuned
        if fresh and corpus_unchanged(last, path, stat.st_size, stat.st_mtime_ns):
            custom = [feed.name for feed in config.feeds]
            outputs = site_files(self.tags, custom)
            # Articles still pending (a state just upgraded to archived feeds) are published
            # even when the corpus is unchanged.
            if all((config.output.dir / n).exists() for n in outputs) and not (
                storage.pending_ids()
            ):
                return PollResult(read=False)
            with storage.transaction():
                written = publish(storage, self.tags, config)
            return PollResult(read=False, written=tuple(written))

        fmt = detect_format(path)
        plan = plan_read(path, fmt, stat.st_size, last, resumable=fresh)
        if fresh and plan.same_bytes(last, path):
            # Rewritten with the same bytes (a new mtime, say): nothing to read.
            with storage.transaction():
                storage.touch_last_poll(stat.st_mtime_ns)
            return PollResult(read=False)

        taxonomy = self.taxonomy
        resume = plan.resume
        # A resumed read meets a few ids: look them up one by one instead of loading all.
        known = storage.known_digests() if resume is None else FirstLookups(storage.digest_of)
        job = Job(
            path, config.schedule.timezone, config.taxonomy.path, known, force, config.corpus.years
        )
        with storage.transaction():
            result = ingest(storage, job, now, resume=resume, progress=progress, warn=warn)
            for skipped in result.skipped:
                warn(skipped.describe(path))
            for ident in result.duplicates:
                warn(f"{path}: id {ident!r} appears more than once; the last record wins")
            reclassified = 0
            classifier = Classifier(taxonomy)
            if retuned and storage.get_meta(TAXONOMY_KEY) is not None:
                reclassified = self._reclassify(classifier)
            else:
                self._apply_labels(classifier)
            storage.set_meta(TAXONOMY_KEY, fingerprint)
            counts = {change: result.count(change) for change in Change}
            if resume is not None and last is not None:
                # What the previous poll read is still there, byte for byte.
                counts[Change.UNCHANGED] += last.new + last.updated + last.unchanged
            tail = result.tail if fmt is CorpusFormat.JSONL else None
            storage.record_poll(
                PollRecord(
                    finished_at=now,
                    corpus_path=str(path),
                    size=stat.st_size,
                    mtime_ns=stat.st_mtime_ns,
                    new=counts[Change.NEW],
                    updated=counts[Change.UPDATED],
                    unchanged=counts[Change.UNCHANGED],
                    skipped=len(result.skipped),
                    resume_offset=None if tail is None else tail.offset,
                    resume_lines=None if tail is None else tail.lines,
                    resume_check=None if tail is None else plan.check_up_to(path, tail.offset),
                    corpus_check=plan.whole,
                )
            )
            crash_point("poll-ingested")
            written = publish(storage, taxonomy.tags, config)
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

    def _reclassify(self, classifier: Classifier) -> int:
        """Tag every stored article again (the taxonomy changed); a person's verdict stands."""
        corrections = {c.article_id: c for c in self.storage.labels()}
        count = 0
        for article in self.storage.articles():  # streamed: writing tags meanwhile is safe
            verdict = classifier.classify(article.title, article.content, explain=False)
            self.storage.set_tags(article.id, corrected(verdict, corrections.get(article.id)))
            count += 1
        return count

    def _apply_labels(self, classifier: Classifier) -> None:
        """The labelled articles this poll wrote (still pending publication) get their tags
        as the recorded verdict says: the categoriser has just tagged them afresh. The other
        labelled articles keep the tags their verdict gave them when it was recorded."""
        storage = self.storage
        corrections = storage.labels()
        written = set(storage.pending_ids()) if corrections else set()
        for correction in corrections:
            article = storage.article(correction.article_id)
            if article is not None and article.id in written:
                verdict = classifier.classify(article.title, article.content, explain=False)
                storage.set_tags(article.id, corrected(verdict, correction))

    def build(self) -> list[Path]:
        """Rebuild the feeds, OPML and index page from the state, without polling."""
        if not self.config.state.url and not self.config.state.path.exists():
            raise StateError(f"{self.config.state.path}: no state yet (run `feeder poll` first)")
        with self.locked("build"), self.storage.transaction():
            # One transaction: every file is built from the same snapshot of the state.
            return publish(self.storage, self.tags, self.config)

    # -- The newsletter ----------------------------------------------------------------------

    def preview(self, week: str | None = None, *, latest: bool = False) -> tuple[str, list[Path]]:
        """Write one issue's HTML, text and .eml for review: (its week, the files rewritten).

        `latest` picks the newest week that has articles, `week` a given one; the default is
        the last full week. A sent issue is written as it was sent.
        """
        with self.locked("newsletter render"):
            key = (
                (latest_week(self.storage, self.config.tz) if latest else None)
                or week
                or last_full_week(self.now(), self.config.tz)
            )
            return key, write_preview(self.storage, self.config, key, self.tags)

    def send(
        self,
        week: str | None = None,
        *,
        dry_run: bool = False,
        retry_unknown: bool = False,
        stop: threading.Event | None = None,
    ) -> SendReport:
        """Send one week's issue (default: the last full week) to everyone who lacks it."""
        signer = self.dkim_signer()  # a key that cannot sign fails here, before any freezing
        now = self.now()
        key = week or last_full_week(now, self.config.tz)
        with self.sending():
            report = send_issue(
                self.storage,
                self.config,
                key,
                self.tags,
                secret=self.secret,
                now=now,
                retry_unknown=retry_unknown,
                dry_run=dry_run,
                smtp_factory=self._smtp_factory,
                signer=signer,
                stop=stop,
            )
            # The mail links its web version: put it in the archive now, not at the next poll.
            publish_archive(self.storage, self.config)
            return report

    def check_mail_settings(self) -> None:
        """MailError if the configured SMTP login can never be made (no password, no TLS);
        ConfigError if the [dkim] key cannot sign."""
        self.dkim_signer()
        if self._smtp_factory is None:
            check_credentials(self.config.smtp, smtp_password())

    def dkim_signer(self) -> Signer | None:
        """The [dkim] signer, its key read and checked on first use (ConfigError if it
        cannot sign); None when DKIM is off."""
        if self._signer is None:
            self._signer = load_signer(self.config.dkim)
        return self._signer

    def dns_records(self) -> list[tuple[str, str]]:
        """The TXT records to publish, (name, value): the DKIM key when [dkim] is set,
        and a suggested SPF and DMARC record for the From address's domain."""
        return dns_records(self.config, self.dkim_signer())

    def send_due(self, stop: threading.Event | None = None) -> Due:
        """Send the latest cron slot's issue if the ledger does not hold it yet.

        Decided from the ledger, never from a scheduler's memory: a run missed while the
        daemon was down is caught up here, once.
        """
        config = self.config
        trigger = cron_trigger(config.schedule.newsletter_cron, config.tz)
        with self.sending():
            storage = self.storage
            week = due_week(self.now(), trigger, config.tz, storage.issue_done)
            if week is None:
                return Due(None)
            if not storage.subscriber_choices():
                return Due(week, nobody=True)
            report = send_issue(
                storage,
                config,
                week,
                self.tags,
                secret=self.secret,
                now=self.now(),
                smtp_factory=self._smtp_factory,
                signer=self.dkim_signer(),
                stop=stop,
            )
            publish_archive(storage, self.config)
        return Due(week, report)

    # -- Subscribers ---------------------------------------------------------------------------
    # Not jobs: each is one transaction on the subscribers table and touches nothing in out/,
    # so none takes the job lock. An unsubscribe during a long send must not wait for it:
    # the send rechecks each recipient just before their message and honours it at once.

    @property
    def secret(self) -> bytes:
        """What signs the subscribers' links and the web forms: $FEEDER_SECRET, else one
        generated on first use and kept in the state (readable by its owner only)."""
        if self._secret is None:
            given = os.environ.get(SECRET_ENV, "")
            if given and len(given) < MIN_SECRET:
                raise ConfigError(
                    f"${SECRET_ENV} is too short: give at least {MIN_SECRET} characters"
                )
            if not given:
                storage = self.storage
                with storage.transaction():
                    given = storage.get_meta(SECRET_KEY) or ""
                    if not given:
                        given = secrets.token_hex(32)
                        storage.set_meta(SECRET_KEY, given)
            self._secret = given.encode("utf-8")
        return self._secret

    def subscribe(
        self, email: str, name: str = "", tags: Sequence[str] | None = None
    ) -> tuple[str, bool]:
        """Subscribe an address, active at once: (the normalised address, False if it was
        active already). `tags` chooses its sections (default: a new address gets every
        section, a known one keeps its choice)."""
        chosen = None if tags is None else people.choose_tags(tags, self.tags)
        return people.add_subscriber(
            self.storage, email, name, now=self.now(), tags=chosen, set_tags=tags is not None
        )

    def unsubscribe(self, email: str) -> tuple[str, bool]:
        """Unsubscribe an address: (the normalised address, False if it was not subscribed)."""
        return people.remove_subscriber(self.storage, email, now=self.now())

    def forget(self, email: str) -> tuple[str, bool]:
        """Erase an address and its delivery history: (the address, False if none was kept)."""
        return people.forget_subscriber(self.storage, email)

    def import_subscribers(self, path: Path) -> people.ImportReport:
        """Subscribe every address of a file; bad lines are reported, not fatal."""
        return people.import_subscribers(self.storage, path, self.tags, now=self.now())

    def subscriber_counts(self) -> dict[SubscriberStatus, int]:
        """How many addresses are in each status, 0 included."""
        return self.storage.subscriber_counts()

    def reactivate(self, email: str) -> tuple[str, bool]:
        """Make a bounced address active again: (the address, False if it was not bounced)."""
        return people.reactivate_subscriber(self.storage, email, now=self.now())

    def issues(self, limit: int = 10) -> list[IssueRecord]:
        """The newest issues in the ledger, with their counts and send times."""
        return self.storage.recent_issues(limit)

    def subscribers(
        self, status: SubscriberStatus | None = SubscriberStatus.ACTIVE
    ) -> list[Subscriber]:
        """Subscribers by address, of one status (default: active) or of any (None)."""
        return self.storage.subscribers(status)

    def import_bounces(self, path: Path) -> bounces.BounceReport:
        """Read bounce reports (an mbox or a Maildir) and mark the active subscribers that
        bounced for good; what was matched and what was not, per recipient."""
        return bounces.import_bounces(self.storage, path, now=self.now())

    # -- The subscriber pages: a reader's own changes ------------------------------------------

    def sign_up(self, email: str, tags: Sequence[str]) -> None:
        """A web sign-up: mails a confirmation, or an active address its preferences link.
        The caller learns nothing about which (see newsletter.signup)."""
        signup.sign_up(
            self.storage,
            self.config,
            self.secret,
            email,
            tags,
            self.tags,
            now=self.now(),
            smtp_factory=self._smtp_factory,
            signer=self.dkim_signer(),
        )

    def confirm(self, token: str) -> Subscriber:
        """Activate the sign-up a confirmation link names; TokenError if it cannot."""
        return people.confirm(self.storage, self.secret, token, self.tags, now=self.now())

    def subscriber_for(self, token: str, purpose: Purpose) -> Subscriber:
        """Whom a preferences or unsubscribe link names; TokenError if nobody."""
        return people.subscriber_for(self.storage, self.secret, token, purpose)

    def set_tags(self, token: str, tags: Sequence[str]) -> Subscriber:
        """Change the sections of the subscriber a preferences link names."""
        return people.set_tags(self.storage, self.secret, token, tags, self.tags, now=self.now())

    def unsubscribe_by_token(self, token: str, purpose: Purpose) -> Subscriber:
        """Unsubscribe whom a preferences or unsubscribe link names."""
        return people.unsubscribe_by_token(
            self.storage, self.secret, token, purpose, now=self.now()
        )

    def personal_links(self, subscriber: Subscriber) -> PersonalLinks:
        """The subscriber's own preferences and unsubscribe pages."""
        base, ref = self.config.output.base_url, subscriber.ref
        return PersonalLinks(
            *(page_url(base, p, mint(self.secret, p, ref)) for p in PERSONAL_PAGES)
        )

    def spend_form_nonce(self, nonce: str) -> bool:
        """Record a web form's nonce as used: False if it was (a replayed form)."""
        now = self.now()
        with self.storage.transaction():
            return self.storage.spend_nonce(nonce, now, now - FORM_MAX_AGE)

    # -- Looking -------------------------------------------------------------------------------

    def status(self) -> Status:
        """The corpus, articles per tag, the last poll, the daemon and the newsletter ledger."""
        config, now = self.config, self.now()
        daemon = holder(config.daemon_lock_path)
        job: Holder | None = holder(config.lock_path)
        storage = self.storage
        last = storage.last_poll()
        issues = storage.recent_issues(limit=1)
        slot = next_slot(now, cron_trigger(config.schedule.newsletter_cron, config.tz))
        next_poll = None
        if daemon is not None and last is not None:
            next_poll = last.finished_at + timedelta(seconds=config.schedule.poll_seconds)
            next_poll = max(next_poll, now.astimezone(config.tz))
        counts = storage.tag_counts()
        per_tag = {tag.id: counts.pop(tag.id, 0) for tag in self.tags}
        untagged = counts.pop("", 0)
        per_tag.update(counts)  # tags the taxonomy no longer has, until the next poll
        per_tag[""] = untagged
        return Status(
            config_file=str(config.file) if config.file else None,
            corpus=str(config.corpus.path),
            state=str(self.storage.location),
            articles=storage.count_articles(),
            per_tag=per_tag,
            last_poll=last,
            daemon_pid=None if daemon is None else daemon.pid,
            lock_holder=None if job is None else job.role,
            next_poll=next_poll,
            next_newsletter=slot,
            last_newsletter=issues[0] if issues else None,
            subscribers=storage.subscriber_counts()[SubscriberStatus.ACTIVE],
            in_doubt=storage.deliveries_in_doubt(),
        )

    # -- People's verdicts on tags ------------------------------------------------------------

    def label(
        self, article_id: str, primary: str | None, also: Sequence[str] = ()
    ) -> tuple[Article, Correction]:
        """Record a person's tags for a stored article (primary None: no tag at all), store
        them at once and rebuild the feeds. Every later build keeps them."""
        known = [tag.id for tag in self.tags]
        for tag in ([primary] if primary else []) + list(also):
            if tag not in known:
                raise InputError(f"unknown tag {tag!r} (tags: {', '.join(known)})")
        if primary is None and also:
            raise InputError("--none gives an article no tag: it takes no --also")
        if not self.config.state.path.exists():
            raise StateError(f"{self.config.state.path}: no state yet (run `feeder poll` first)")
        extra = tuple(dict.fromkeys(t for t in also if t != primary))
        correction = Correction(article_id, primary, extra, self.now())
        with self.locked("label"), self.storage.transaction():
            article = self.storage.article(article_id)
            if article is None:
                raise InputError(
                    f"no article {article_id!r} in the state (check the id with `feeder "
                    "labels list` or the feeds; a new article needs a `feeder poll` first)"
                )
            self.storage.put_label(correction)
            verdict = Classifier(self.taxonomy).classify_article(article)
            self.storage.set_tags(article_id, corrected(verdict, correction))
            publish(self.storage, self.tags, self.config)
        return article, correction

    def labels(self) -> list[tuple[Article | None, Correction]]:
        """Every recorded verdict with its article (None if it is no longer stored)."""
        storage = self.storage
        return [(storage.article(c.article_id), c) for c in storage.labels()]

    def export_labels(self, path: Path) -> int:
        """Write the recorded verdicts as a label file (labels/GUIDE.md); how many."""
        records = {
            correction.article_id: {
                "title": article.title if article else "",
                "primary": correction.primary,
                "also": list(correction.also),
                "allowed": [],
            }
            for article, correction in self.labels()
        }
        text = json.dumps(records, ensure_ascii=False, indent=1) + "\n"
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise FeederError(f"{path}: cannot write the label file: {exc.strerror}") from None
        return len(records)

    def evaluate_state(self, taxonomy: Path | None = None) -> Report:
        """Score the taxonomy (default: the configured one) against every recorded verdict,
        on the stored articles: what a retune would do to the people's verdicts."""
        chosen = self.taxonomy if taxonomy is None else load_taxonomy(taxonomy)
        wanted: dict[str, Label] = {}
        articles = []
        for article, correction in self.labels():
            if article is not None:
                wanted[article.id] = Label(correction.primary, correction.also, (), article.title)
                articles.append(article)
        tags = [tag.id for tag in chosen.tags]
        return evaluate(Classifier(chosen).classify_article, articles, wanted, tags)

    def suggest_taxonomy(self) -> Suggestion:
        """Edits to the configured taxonomy file that fix recorded verdicts it gets wrong,
        breaking none it gets right: a unified diff for a person to apply."""
        path = self.config.taxonomy.path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read taxonomy file: {exc.strerror}") from None
        pairs = [(a, c) for a, c in self.labels() if a is not None]
        # Named as `patch -p0` run here finds it: relative to the working folder if inside.
        shown = os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)
        return suggest(text, shown, pairs, self.storage.articles())

    def classify(
        self, corpus: Path | None = None, taxonomy: Path | None = None, *, warn: Warn = _ignore
    ) -> Classified:
        """Tag the articles of a corpus file (default: the configured one); no state is read."""
        chosen = self.taxonomy if taxonomy is None else load_taxonomy(taxonomy)
        classifier = Classifier(chosen)
        articles = read_articles(
            corpus or self.config.corpus.path, self.config.tz, warn, self.config.corpus.years
        )
        verdicts = ((article, classifier.classify_article(article)) for article in articles)
        return Classified(chosen, verdicts)

    def evaluate(
        self,
        labels: Path,
        corpus: Path | None = None,
        taxonomy: Path | None = None,
        *,
        warn: Warn = _ignore,
    ) -> Report:
        """Score the categoriser against hand-made labels (see labels/GUIDE.md)."""
        chosen = self.taxonomy if taxonomy is None else load_taxonomy(taxonomy)
        tags = [tag.id for tag in chosen.tags]
        wanted = load_labels(labels)
        for problem in check_labels(wanted, tags):
            warn(f"{labels}: {problem}")
        articles = read_articles(
            corpus or self.config.corpus.path, self.config.tz, warn, self.config.corpus.years
        )
        return evaluate(Classifier(chosen).classify_article, articles, wanted, tags)
