"""The state: articles, polls, subscribers and the newsletter ledger, behind one interface.

`Storage` is what every layer above this package talks to; `open_storage` picks the backend
from where the state is: a SQLite file (one machine, embedded: the default) or a PostgreSQL
URL (a server several hosts share). Both implement the same Protocol with the same schema,
and nothing above this package knows which one runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from ..model import (
    Article,
    ArticleRow,
    Classification,
    Correction,
    Delivery,
    DeliveryStatus,
    Entry,
    IssueRecord,
    IssueStatus,
    PollRecord,
    Subscriber,
    SubscriberStatus,
    WriteMode,
)
from .articles import article_row
from .copy import Copied, copy_state
from .postgres import PostgresStorage, is_url, safe_url
from .schema import SCHEMA_VERSION
from .sqlite import SqliteStorage

__all__ = [
    "SCHEMA_VERSION",
    "Copied",
    "Storage",
    "article_row",
    "copy_storage",
    "is_url",
    "migrate_storage",
    "open_storage",
    "safe_url",
]


class Storage(Protocol):
    """One open state. Datetimes go in aware and come out in the display zone."""

    location: Path | str  # the SQLite file or the database URL (never with a password)
    shared: bool  # several processes on several hosts may use it at once (PostgreSQL)

    @property
    def path(self) -> Path: ...
    def close(self) -> None: ...
    def another(self) -> Storage:
        """Another connection to the same state, for a thread of its own."""
        ...

    def exclusive(self, name: str, wait: float = 0.0) -> AbstractContextManager[None]:
        """On a shared state, hold the lock `name` across every host for the block, waiting
        up to `wait` seconds, else LockedError; on a one-machine state, nothing (file locks
        beside the file do that there)."""
        ...

    def schema_version(self) -> int: ...
    def __enter__(self) -> Storage: ...
    def __exit__(self, *exc: object) -> None: ...
    def transaction(self) -> AbstractContextManager[None]:
        """All or nothing: commit when the block ends, roll back if it raises."""
        ...

    def savepoint(self, name: str) -> AbstractContextManager[None]:
        """Inside a transaction: undo just this block's changes if it raises."""
        ...

    # -- Articles and tags ---------------------------------------------------

    def digest_of(self, article_id: str) -> str | None:
        """One stored article's record digest, or None if it is not stored."""
        ...

    def known_digests(self) -> dict[str, str]:
        """Every stored article's record digest, by id: enough to tell new from edited."""
        ...

    def set_tags(self, article_id: str, verdict: Classification) -> None: ...
    def put_articles(
        self, rows: Sequence[ArticleRow], now: datetime, modes: Sequence[WriteMode]
    ) -> None:
        """Store many rows at once, each as its mode says."""
        ...

    def articles(self) -> Iterator[Article]:
        """Every stored article, in id order (streamed, not loaded whole)."""
        ...

    def article(self, article_id: str) -> Article | None:
        """One stored article, or None if no article has that id."""
        ...

    def count_articles(self) -> int: ...
    def tag_counts(self) -> dict[str, int]:
        """How many articles carry each tag ("" for untagged)."""
        ...

    def entries(self, tag: str | None = None, limit: int | None = None) -> list[Entry]:
        """Published entries, newest first (ties by id, descending), optionally of one tag."""
        ...

    def entries_published(self, start: datetime, end: datetime) -> list[Entry]:
        """Entries published in [start, end), newest first."""
        ...

    # -- People's verdicts on tags -------------------------------------------

    def put_label(self, correction: Correction) -> None:
        """Record a verdict, replacing any earlier one for that article."""
        ...

    def labels(self) -> list[Correction]:
        """Every recorded verdict, in article id order."""
        ...

    # -- Feed members, archive pages and accounts (storage/feeds.py) ------------

    def pending_ids(self) -> list[str]:
        """Articles written or re-tagged since the last publish, oldest published first."""
        ...

    def mark_all_pending(self) -> None:
        """Every article's feeds must be worked out again (the feeds themselves changed)."""
        ...

    def clear_pending(self) -> None:
        """Every pending article has its feeds: the publish that read them is done."""
        ...

    def entries_of(self, ids: Sequence[str], chars: int | None = None) -> dict[str, Entry]:
        """The entries of these articles, by id; with `chars`, their text cut to that many."""
        ...

    def memberships(self, ids: Sequence[str], feeds: Sequence[str]) -> dict[str, dict[str, int]]:
        """For each of these articles in some of these feeds: its seq in each, by feed."""
        ...

    def last_seq(self, feed: str) -> int:
        """The seq of the feed's newest member; 0 for an empty feed."""
        ...

    def add_members(self, rows: Iterable[tuple[str, int, str]]) -> None:
        """Append (feed, seq, article id) rows."""
        ...

    def drop_members(self, rows: Iterable[tuple[str, str]]) -> None:
        """Take (feed, article id) pairs out of their feeds; the others keep their seq."""
        ...

    def member_feeds(self) -> list[str]:
        """Every feed that has members or archive pages recorded."""
        ...

    def drop_feed(self, feed: str) -> list[int]:
        """Forget a feed that no longer exists: its members and pages; the pages' numbers."""
        ...

    def archive_end(self, feed: str, keep: int) -> int:
        """The seq of the newest member the feed's newest `keep` leave out; 0 if none."""
        ...

    def feed_entries(self, feed: str, limit: int) -> list[Entry]:
        """The feed's newest `limit` members (by arrival), newest published first."""
        ...

    def member_ids(self, feed: str, first: int, last: int) -> list[str]:
        """The ids of the feed's members with seq from `first` to `last`, in seq order."""
        ...

    def archive_pages(self, feed: str) -> dict[int, str]:
        """The feed's archive pages as written: each page's shape, by number."""
        ...

    def record_pages(self, feed: str, shapes: dict[int, str]) -> None: ...
    def forget_pages(self, pages: Iterable[tuple[str, int]]) -> None:
        """(feed, n) pages to write again: one of their articles changed or left."""
        ...

    def account_slugs(self) -> dict[str, str]:
        """Every account's slug, by account name."""
        ...

    def add_account(self, name: str, slug: str) -> None: ...

    # -- Polls and meta ------------------------------------------------------

    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def record_poll(self, poll: PollRecord) -> None: ...
    def touch_last_poll(self, mtime_ns: int) -> None:
        """The corpus file has a new mtime but the same bytes: remember the new mtime."""
        ...

    def last_poll(self) -> PollRecord | None: ...

    # -- Subscribers ---------------------------------------------------------

    def subscriber(self, email: str) -> Subscriber | None: ...
    def subscriber_by_ref(self, ref: str) -> Subscriber | None: ...
    def add_subscriber(
        self, email: str, name: str, status: SubscriberStatus, ref: str, now: datetime
    ) -> Subscriber:
        """A new row for `email`, choosing every section; the address must not be stored."""
        ...

    def set_status(self, email: str, status: SubscriberStatus, now: datetime) -> bool:
        """Move `email` to `status` (its `since` becomes now); False if it was there already."""
        ...

    def set_subscriber_name(self, email: str, name: str) -> None: ...
    def set_subscriber_tags(self, email: str, tags: tuple[str, ...] | None) -> None:
        """Choose the sections `email` gets: tag ids, or None for everything."""
        ...

    def mailed_at(self, email: str) -> datetime | None:
        """When `email` was last sent a confirmation or preferences mail."""
        ...

    def set_mailed_at(self, email: str, moment: datetime | None) -> None: ...
    def forget_subscriber(self, email: str) -> bool:
        """Erase `email`: its row and its delivery history. False if nothing was stored."""
        ...

    def purge_pending(self, before: datetime) -> int:
        """Erase sign-ups whose last confirmation mail before `before` was never answered."""
        ...

    def is_subscribed(self, email: str) -> bool:
        """Whether `email` (already normalised) gets mail now."""
        ...

    def subscriber_choices(self) -> dict[tuple[str, ...] | None, int]:
        """How many active subscribers chose each set of sections (None: everything)."""
        ...

    def subscriber_counts(self) -> dict[SubscriberStatus, int]:
        """How many addresses are in each status (every status named, 0 included)."""
        ...

    def mark_bounced(self, email: str, detail: str, now: datetime) -> bool:
        """An active address refused mail for good; False if it was not active."""
        ...

    def bounce_of(self, email: str) -> str | None:
        """Why `email` was marked bounced; None if it is not."""
        ...

    def reactivate(self, email: str, now: datetime) -> bool:
        """A bounced address made active again, its counts cleared; False if not bounced."""
        ...

    def subscribers(
        self, status: SubscriberStatus | None = SubscriberStatus.ACTIVE
    ) -> list[Subscriber]:
        """Subscribers by address, of one status (default: the active ones) or of any."""
        ...

    def spend_nonce(self, nonce: str, now: datetime, forget_before: datetime) -> bool:
        """Record a web form's nonce as used: False if it was used already (a replay)."""
        ...

    # -- The newsletter ledger -----------------------------------------------

    def issue_status(self, key: str) -> IssueStatus | None:
        """The issue's status; None if the week's issue was never frozen."""
        ...

    def issue_done(self, key: str) -> bool:
        """Sent or skipped, or frozen with no recipient pending: no run has work left."""
        ...

    def issue_record(self, key: str) -> IssueRecord | None:
        """One issue with its frozen message and its ledger counts."""
        ...

    def recent_issues(self, limit: int = 10) -> list[IssueRecord]:
        """The newest issues first (by week)."""
        ...

    def sent_issues(self) -> list[IssueRecord]:
        """Every issue that went out, to everyone or to some (sent or partial), newest first."""
        ...

    def frozen_weeks(self) -> set[str]:
        """Every week whose issue content is fixed: sent, being sent, partial or skipped."""
        ...

    def issued_article_ids(self) -> set[str]:
        """Every article that some issue already carries."""
        ...

    def skip_issue(self, key: str, now: datetime) -> None:
        """Record that week `key` had nothing to send."""
        ...

    def freeze_issue(
        self,
        key: str,
        now: datetime,
        message: tuple[str, str, str],
        week_ids: Sequence[str],
        late_ids: Sequence[str],
        editions: Mapping[str, tuple[str, str, str]],
    ) -> None:
        """Fix an issue: its web version, articles and editions, and every active subscriber
        as a recipient of their edition; one whose edition is not in `editions` is recorded
        as empty, not mailed."""
        ...

    def edition(self, key: str, edition: str) -> tuple[str, str, str] | None:
        """One edition's frozen message; None for an issue frozen before editions existed."""
        ...

    def issue_article_ids(self, key: str) -> list[str]:
        """The articles an issue carries, in the order it shows them."""
        ...

    def set_issue_status(self, key: str, status: IssueStatus, now: datetime) -> None: ...
    def deliveries(self, key: str, status: DeliveryStatus | None = None) -> list[Delivery]:
        """An issue's ledger rows in the order they were created, optionally of one status."""
        ...

    def deliveries_in_doubt(self) -> list[Delivery]:
        """Rows a run left in SENDING: whether the server took the message is unknown."""
        ...

    def claim_batch(
        self, key: str, limit: int, now: datetime, after: int = 0, expired: datetime | None = None
    ) -> tuple[list[Delivery], int]:
        """Claim up to `limit` pending rows after seq `after` (pending → sending on SQLite;
        on a shared state a lease, and a row leased before `expired` may be claimed again:
        its run died before trying it); a row
        whose recipient is no longer active is cancelled instead and not returned. Returns
        the claimed rows and the seq where the next claim starts."""
        ...

    def leased_elsewhere(self, key: str) -> bool:
        """Whether another run (another daemon on a shared state) holds claimed rows of the
        issue that it has not tried yet."""
        ...

    def start_delivery(self, key: str, email: str, now: datetime) -> bool:
        """Just before a claimed row's SMTP transaction: on a shared state it moves to
        'sending' (in doubt from now on); False if another run has taken the row over."""
        ...

    def settle_batch(
        self,
        key: str,
        outcomes: Sequence[tuple[str, DeliveryStatus, str | None]],
        now: datetime,
        soft_limit: int,
    ) -> None:
        """Settle claimed rows and mark bounced addresses (see storage/ledger.py)."""
        ...

    def delivery_counts(self, key: str) -> dict[DeliveryStatus, int]:
        """How many of an issue's ledger rows are in each status."""
        ...

    def problem_deliveries(self, key: str, limit: int) -> list[Delivery]:
        """The first `limit` rows that did not reach their recipient and say why."""
        ...

    def add_send_seconds(self, key: str, seconds: float) -> None:
        """Add one run's duration to the issue's total send time."""
        ...

    def settle_delivery(
        self, key: str, email: str, status: DeliveryStatus, detail: str | None, now: datetime
    ) -> None:
        """Move a claimed row out of 'sending', to where its attempt left it."""
        ...

    def retry_in_doubt(self, key: str, now: datetime) -> int:
        """Put an issue's in-doubt rows back to pending, on the operator's word."""
        ...


def open_storage(location: Path | str, tz: ZoneInfo, *, upgrade: bool = True) -> Storage:
    """Open the state at `location`: a SQLite file (created if missing; upgraded in place
    unless `upgrade` is False, then an out-of-date one is refused) or a PostgreSQL URL
    (never upgraded on open: a shared database is upgraded by `feeder state migrate`)."""
    if is_url(location):
        return PostgresStorage.open(str(location), tz)
    return SqliteStorage.open(Path(location), tz, upgrade=upgrade)


def migrate_storage(location: Path | str, tz: ZoneInfo) -> tuple[int, int]:
    """Bring the state's schema to this feeder's version: (the version before, after)."""
    if is_url(location):
        with PostgresStorage.open(str(location), tz, check=False) as storage:
            return storage.migrate()
    with SqliteStorage.open(Path(location), tz, upgrade=None) as opened:
        return opened.migrate()


def copy_storage(source: Storage, target: Path | str, tz: ZoneInfo) -> list[Copied]:
    """Copy the whole state into `target` (a SQLite file or a PostgreSQL URL), which must
    be empty; every table's count is checked. One transaction: all or nothing."""
    if is_url(target):
        opened: SqliteStorage | PostgresStorage = PostgresStorage.open(str(target), tz, check=False)
    else:
        opened = SqliteStorage.open(Path(target), tz, upgrade=None)
    with opened:
        assert isinstance(source, SqliteStorage | PostgresStorage)
        return copy_state(source, opened)
