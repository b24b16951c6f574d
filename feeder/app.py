"""The facade: `open_feeder(config)` gives a `Feeder`, the one way in for the CLI, the daemon
and the web pages. It owns the state, the lock, the clock, the taxonomy, the secret and the
DKIM signer; every front end parses its input, calls one method, and presents the result.

Each method opens what it needs, takes the lock if its job writes, and calls one job
(feeder/jobs/); a plain read of the state is one store method. Every job that writes the
state in several steps or the output folder (poll, build, label, preview, send) holds the
job lock for its duration, waiting up to LOCK_WAIT seconds for another job (a daemon's
poll, say) to finish. Subscriber changes are single transactions and need none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from .classify import Taxonomy, load_taxonomy
from .classify.evaluate import Report
from .classify.suggest import Suggestion
from .config import Config
from .files import remove_temp_files
from .jobs import mailing, people, readers, state, tagging
from .jobs import poll as polling
from .jobs import status as reporting
from .jobs.mailing import Due, Outbox
from .jobs.people import ImportReport
from .jobs.readers import FORM_MAX_AGE as FORM_MAX_AGE  # for the pages' form tokens
from .jobs.readers import PersonalLinks
from .jobs.status import Status
from .jobs.tagging import Classified
from .lock import hold_lock
from .model import (
    Article,
    Correction,
    IssueRecord,
    PollAttempt,
    PollResult,
    Subscriber,
    SubscriberStatus,
    Tag,
)
from .newsletter.bounces import BounceReport
from .newsletter.dkim import Signer, dns_records, load_signer
from .newsletter.send import SendReport
from .newsletter.smtp import SmtpFactory as SmtpFactory  # for the web front end
from .scaffold import scaffold
from .storage import Copied, Storage, copy_state, migrate_storage, open_storage
from .tokens import Purpose

# How long a job waits for another one (a daemon's poll or send) to finish.
LOCK_WAIT = 30.0

Warn = Callable[[str], None]


def _ignore(_message: str) -> None:
    pass


def open_feeder(
    config: Config,
    *,
    clock: Callable[[], datetime] | None = None,
    smtp_factory: SmtpFactory | None = None,
    lock_wait: float = LOCK_WAIT,
    upgrade: bool = True,
    create: bool = True,
) -> Feeder:
    """The application over one configuration. Nothing is opened until a method needs it.

    `upgrade=False` (the daemon, `serve`) refuses a state whose schema is out of date
    instead of upgrading a SQLite file in place; a PostgreSQL state is only ever upgraded
    by `feeder state migrate`. `create=False` (/healthz, /metrics) refuses a missing state
    instead of creating it empty, which would hide the problem from the checks meant to
    report it."""
    clock = clock or (lambda: datetime.now(UTC))
    return Feeder(config, clock, smtp_factory, lock_wait, upgrade, create)


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
        create: bool = True,
    ) -> None:
        self.config = config
        self._upgrade = upgrade
        self._create = create
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
        return self._state()

    def _state(self, *, create: bool = True) -> Storage:
        """The state, opened on first use; with `create` False (a job that only reads or
        rebuilds from it), StateError if there is none yet."""
        if self._storage is None:
            self._storage = open_storage(
                self.config.state.location,
                self.config.tz,
                upgrade=self._upgrade,
                create=create and self._create,
            )
        return self._storage

    @property
    def taxonomy(self) -> Taxonomy:
        """The configured taxonomy, read and validated on first use."""
        if self._taxonomy is None:
            self._taxonomy = tagging.configured_taxonomy(self.config)
        return self._taxonomy

    @property
    def tags(self) -> tuple[Tag, ...]:
        return self.taxonomy.tags

    def _chosen(self, taxonomy: Path | None) -> Taxonomy:
        """The taxonomy file given for one run, else the configured one."""
        return self.taxonomy if taxonomy is None else load_taxonomy(taxonomy)

    @property
    def secret(self) -> bytes:
        """What signs the subscribers' links and the web forms (see jobs/readers.py)."""
        if self._secret is None:
            self._secret = readers.secret(self.storage)
        return self._secret

    def dkim_signer(self) -> Signer | None:
        """The [dkim] signer, its key read and checked on first use (ConfigError if it
        cannot sign); None when DKIM is off."""
        if self._signer is None:
            self._signer = load_signer(self.config.dkim)
        return self._signer

    def _outbox(self) -> Outbox:
        # The signer first: a key that cannot sign fails before anything else is done.
        return Outbox(
            signer=self.dkim_signer(), secret=self.secret, smtp_factory=self._smtp_factory
        )

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

    # -- The state itself --------------------------------------------------------------------

    def migrate(self) -> tuple[int, int]:
        """Upgrade the state's schema to this feeder's: (the version before, after)."""
        self.close()
        return migrate_storage(self.config.state.location, self.config.tz)

    def copy_state(self, target: str) -> list[Copied]:
        """Copy the whole state into an empty one at `target` (a SQLite file or a
        postgresql:// URL), checking each table's count. The jobs are held off meanwhile."""
        where = state.copy_target(target, self.config.state.location)
        with self.locked("state copy"), open_storage(where, self.config.tz, upgrade=None) as empty:
            return copy_state(self.storage, empty)

    # -- Polling and publishing ------------------------------------------------------------

    def poll(
        self,
        *,
        force: bool = False,
        warn: Warn = _ignore,
        progress: Callable[[int], None] | None = None,
        wait: float | None = None,
    ) -> PollResult:
        """Bring the state and the outputs up to date with the corpus, in one transaction
        (see jobs/poll.py). The job takes the lock itself: the attempt it records for
        /healthz counts the wait, and the WebSub hub is told only once the lock is free."""
        return polling.poll(
            self.storage,
            self.config,
            lambda: self.taxonomy,
            self.now,
            locked=lambda: self.locked("poll", wait),
            force=force,
            warn=warn,
            progress=progress,
        )

    def last_poll_attempt(self) -> PollAttempt | None:
        """The last poll's time, outcome and duration, whether it succeeded or not."""
        return polling.last_attempt(self.storage)

    def build(self) -> list[Path]:
        """Rebuild the feeds, OPML and index page from the state, without polling."""
        store = self._state(create=False)
        with self.locked("build"):
            return polling.build(store, self.tags, self.config)

    # -- The newsletter ----------------------------------------------------------------------

    def preview(self, week: str | None = None, *, latest: bool = False) -> tuple[str, list[Path]]:
        """Write one issue's HTML, text and .eml for review: (its week, the files rewritten).

        `latest` picks the newest week that has articles, `week` a given one; the default is
        the last full week. A sent issue is written as it was sent.
        """
        with self.locked("newsletter render"):
            return mailing.preview(self.storage, self.config, self.tags, self.now(), week, latest)

    def send(
        self,
        week: str | None = None,
        *,
        dry_run: bool = False,
        retry_unknown: bool = False,
        stop: threading.Event | None = None,
    ) -> SendReport:
        """Send one week's issue (default: the last full week) to everyone who lacks it."""
        self.dkim_signer()  # a key that cannot sign fails here, before the lock and freezing
        with self.sending():
            return mailing.send(
                self.storage,
                self.config,
                self.tags,
                self.now(),
                week,
                self._outbox(),
                dry_run=dry_run,
                retry_unknown=retry_unknown,
                stop=stop,
            )

    def send_due(self, stop: threading.Event | None = None) -> Due:
        """Send the latest cron slot's issue if the ledger does not hold it yet.

        Decided from the ledger, never from a scheduler's memory: a run missed while the
        daemon was down is caught up here, once.
        """
        with self.sending():
            return mailing.send_due(
                self.storage, self.config, lambda: self.taxonomy, self.now(), self._outbox, stop
            )

    def check_mail_settings(self) -> None:
        """MailError if the configured SMTP login can never be made (no password, no TLS);
        ConfigError if the [dkim] key cannot sign."""
        self.dkim_signer()
        mailing.check_login(self.config.smtp, self._smtp_factory)

    def dns_records(self) -> list[tuple[str, str]]:
        """The TXT records to publish, (name, value): the DKIM key when [dkim] is set,
        and a suggested SPF and DMARC record for the From address's domain."""
        return dns_records(self.config, self.dkim_signer())

    def issues(self, limit: int = 10) -> list[IssueRecord]:
        """The newest issues in the ledger, with their counts and send times."""
        return self.storage.recent_issues(limit)

    # -- Subscribers: the operator's changes (jobs/people.py) -------------------------------

    def subscribe(
        self, email: str, name: str = "", tags: Sequence[str] | None = None
    ) -> tuple[str, bool]:
        """Subscribe an address, active at once: (the normalised address, False if it was
        active already). `tags` chooses its sections (default: a new address gets every
        section, a known one keeps its choice)."""
        return people.subscribe(self.storage, email, name, tags, self.tags, now=self.now())

    def unsubscribe(self, email: str) -> tuple[str, bool]:
        """Unsubscribe an address: (the normalised address, False if it was not subscribed)."""
        return people.remove_subscriber(self.storage, email, now=self.now())

    def forget(self, email: str) -> tuple[str, bool]:
        """Erase an address and its delivery history: (the address, False if none was kept)."""
        return people.forget_subscriber(self.storage, email)

    def import_subscribers(self, path: Path) -> ImportReport:
        """Subscribe every address of a file; bad lines are reported, not fatal."""
        return people.import_subscribers(self.storage, path, self.tags, now=self.now())

    def reactivate(self, email: str) -> tuple[str, bool]:
        """Make a bounced address active again: (the address, False if it was not bounced)."""
        return people.reactivate_subscriber(self.storage, email, now=self.now())

    def import_bounces(self, path: Path) -> BounceReport:
        """Read bounce reports (an mbox or a Maildir) and mark the active subscribers that
        bounced for good; what was matched and what was not, per recipient."""
        return people.import_bounces(self.storage, path, now=self.now())

    def subscriber_counts(self) -> dict[SubscriberStatus, int]:
        """How many addresses are in each status, 0 included."""
        return self.storage.subscriber_counts()

    def subscribers(
        self, status: SubscriberStatus | None = SubscriberStatus.ACTIVE
    ) -> list[Subscriber]:
        """Subscribers by address, of one status (default: active) or of any (None)."""
        return self.storage.subscribers(status)

    # -- The subscriber pages: a reader's own changes (jobs/readers.py) ----------------------

    def sign_up(self, email: str, tags: Sequence[str]) -> None:
        """A web sign-up: mails a confirmation, or an active address its preferences link.
        The caller learns nothing about which."""
        outbox = self._outbox()
        readers.sign_up(self.storage, self.config, outbox, email, tags, self.tags, now=self.now())

    def confirm(self, token: str) -> Subscriber:
        """Activate the sign-up a confirmation link names; TokenError if it cannot."""
        return readers.confirm(self.storage, self.secret, token, self.tags, now=self.now())

    def subscriber_for(self, token: str, purpose: Purpose) -> Subscriber:
        """Whom a preferences or unsubscribe link names; TokenError if nobody."""
        return readers.subscriber_for(self.storage, self.secret, token, purpose)

    def set_tags(self, token: str, tags: Sequence[str]) -> Subscriber:
        """Change the sections of the subscriber a preferences link names."""
        return readers.set_tags(self.storage, self.secret, token, tags, self.tags, now=self.now())

    def unsubscribe_by_token(self, token: str, purpose: Purpose) -> Subscriber:
        """Unsubscribe whom a preferences or unsubscribe link names."""
        return readers.unsubscribe_by_token(
            self.storage, self.secret, token, purpose, now=self.now()
        )

    def personal_links(self, subscriber: Subscriber) -> PersonalLinks:
        """The subscriber's own preferences and unsubscribe pages."""
        return readers.personal_links(self.config.output.base_url, self.secret, subscriber)

    def spend_form_nonce(self, nonce: str) -> bool:
        """Record a web form's nonce as used: False if it was (a replayed form)."""
        return readers.spend_form_nonce(self.storage, nonce, self.now())

    # -- Looking -------------------------------------------------------------------------------

    def status(self) -> Status:
        """The corpus, articles per tag, the last poll, the daemon and the newsletter ledger."""
        return reporting.status(self.storage, self.config, self.tags, self.now())

    # -- The categoriser and people's verdicts on tags (jobs/tagging.py) ---------------------

    def classify(
        self, corpus: Path | None = None, taxonomy: Path | None = None, *, warn: Warn = _ignore
    ) -> Classified:
        """Tag the articles of a corpus file (default: the configured one); no state is read."""
        return tagging.classify(self.config, self._chosen(taxonomy), corpus, warn)

    def evaluate(
        self,
        labels: Path,
        corpus: Path | None = None,
        taxonomy: Path | None = None,
        *,
        warn: Warn = _ignore,
    ) -> Report:
        """Score the categoriser against hand-made labels (see labels/GUIDE.md)."""
        return tagging.evaluate_corpus(self.config, self._chosen(taxonomy), labels, corpus, warn)

    def label(
        self, article_id: str, primary: str | None, also: Sequence[str] = ()
    ) -> tuple[Article, Correction]:
        """Record a person's tags for a stored article (primary None: no tag at all), store
        them at once and rebuild the feeds. Every later build keeps them."""
        verdict = tagging.correction(article_id, primary, also, self.tags, self.now())
        store = self._state(create=False)
        with self.locked("label"):
            return tagging.label(store, self.taxonomy, self.config, verdict)

    def labels(self) -> list[tuple[Article | None, Correction]]:
        """Every recorded verdict with its article (None if it is no longer stored)."""
        return tagging.labels(self.storage)

    def export_labels(self, path: Path) -> int:
        """Write the recorded verdicts as a label file (labels/GUIDE.md); how many."""
        return tagging.export_labels(self.storage, path)

    def evaluate_state(self, taxonomy: Path | None = None) -> Report:
        """Score the taxonomy (default: the configured one) against every recorded verdict,
        on the stored articles: what a retune would do to the people's verdicts."""
        return tagging.evaluate_state(self.storage, self._chosen(taxonomy))

    def suggest_taxonomy(self) -> Suggestion:
        """Edits to the configured taxonomy file that fix recorded verdicts it gets wrong,
        breaking none it gets right: a unified diff for a person to apply."""
        return tagging.suggest_taxonomy(self.storage, self.config.taxonomy.path)
