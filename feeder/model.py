"""The typed values that cross packages: articles, tags, verdicts, records of the state, and
an enum for every status. Imports nothing of feeder's: every other module may import it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

# -- Statuses: each stored as its value --------------------------------------------------


class CorpusFormat(StrEnum):
    """How a corpus file holds its records."""

    ARRAY = "array"  # one JSON array of objects
    JSONL = "jsonl"  # one object per line


class Change(StrEnum):
    """What a poll found for one record, compared with the state."""

    NEW = "new"  # an id the state does not hold
    UPDATED = "updated"  # a stored id whose record changed
    UNCHANGED = "unchanged"  # the same record as stored


class WriteMode(StrEnum):
    """How the state writes one article row."""

    INSERT = "insert"  # a new id: a plain insert, no tags to clear
    EDIT = "edit"  # an edited article: overwrite, and note when the edit was seen
    REWRITE = "rewrite"  # overwrite as is (a forced re-read, a duplicate id), no edit noted


class IssueStatus(StrEnum):
    """Where one week's issue stands in the ledger."""

    SENDING = "sending"  # frozen; a run is sending it, or one died doing so
    PARTIAL = "partial"  # a run ended with recipients failed, deferred or in doubt
    SENT = "sent"  # every recipient has it
    SKIPPED = "skipped"  # the week had nothing to send

    @property
    def done(self) -> bool:
        return self in (IssueStatus.SENT, IssueStatus.SKIPPED)


class DeliveryStatus(StrEnum):
    """One (issue, recipient) row of the ledger: pending → sending → sent or failed."""

    PENDING = "pending"  # owed; a run will send it
    SENDING = "sending"  # claimed by a run that has not settled it: in doubt if it died
    SENT = "sent"  # the server accepted it
    FAILED = "failed"  # refused for good
    CANCELLED = "cancelled"  # the recipient unsubscribed before it went
    EMPTY = "empty"  # none of the recipient's sections had an article: nothing to mail


class SubscriberStatus(StrEnum):
    """Where one address stands: only active ones get mail."""

    PENDING = "pending"  # signed up on the web, not confirmed yet
    ACTIVE = "active"  # confirmed, or added by the operator
    UNSUBSCRIBED = "unsubscribed"  # left; the row stays for the ledger until it is erased
    BOUNCED = "bounced"  # the address refused mail for good; the operator may reactivate it


# -- Articles and categories ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Article:
    """One article as read from the corpus, normalised."""

    id: str  # the corpus id (文章标识符aid), unique within a corpus
    title: str  # plain text, one line
    url: str | None  # the original article; None unless http or https
    published: datetime  # timezone-aware; a bare date means 00:00 in the configured zone
    account: str  # the official account's name (公众号名称), may be empty
    content: str  # plain text: lines joined by "\n", paragraphs by "\n\n"
    source: str | None = None  # "来源：…" named in the text
    author: str | None = None  # "作者：…" named in the text
    editor: str | None = None  # "编辑：…" named in the text


@dataclass(frozen=True, slots=True)
class Tag:
    """A category that articles are sorted into."""

    id: str  # stable machine name: "policy", "research", "industry"
    label: str  # what readers see: 政策, 科研, 产业
    description: str  # one line saying what belongs here


@dataclass(frozen=True, slots=True)
class Hit:
    """One signal found in an article, kept so a decision can be explained."""

    tag: str  # the tag the signal votes for
    signal: str  # the phrase or pattern name that matched
    where: str  # "title" or "body"
    count: int  # how many times it matched there
    points: float  # what it added to the tag's score after weighting and saturation


@dataclass(frozen=True, slots=True)
class Classification:
    """The categoriser's verdict on one article."""

    tags: tuple[str, ...]  # the tags given, primary first; empty when nothing matched
    scores: dict[str, float] = field(default_factory=dict)  # every tag's score, given or not
    hits: tuple[Hit, ...] = ()  # the signals behind the scores

    @property
    def primary(self) -> str | None:
        return self.tags[0] if self.tags else None


@dataclass(frozen=True, slots=True)
class Correction:
    """A person's verdict on one article's tags: it overrides the categoriser's."""

    article_id: str
    primary: str | None  # the tag it must have first; None: it must have no tag at all
    also: tuple[str, ...]  # further tags it must have, after the primary
    labelled_at: datetime  # when it was recorded

    @property
    def tags(self) -> tuple[str, ...]:
        """The tags the article gets, primary first."""
        return (self.primary, *self.also) if self.primary else ()


@dataclass(frozen=True, slots=True)
class Entry:
    """An article as published: what the feeds, the index page and the newsletter are built from."""

    article: Article
    tags: tuple[str, ...]  # primary first
    updated: datetime  # = article.published, until an edit is seen; then when it was seen
    first_seen: datetime  # when a poll first stored the article (UTC)

    @property
    def primary(self) -> str | None:
        return self.tags[0] if self.tags else None


class ArticleRow(NamedTuple):
    """An article to store, with its tags: plain values, cheap to send between processes."""

    id: str
    title: str
    url: str | None
    published: str  # UTC, "YYYY-MM-DDTHH:MM:SSZ"
    account: str
    content: str
    source: str | None
    author: str | None
    editor: str | None
    digest: str  # of the corpus record as read: tells the next poll whether it changed
    tags: tuple[tuple[str, float], ...]  # (tag, score), primary first


# -- Polls ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollRecord:
    """What a successful poll saw of the corpus file, and what it did."""

    finished_at: datetime
    corpus_path: str
    size: int
    mtime_ns: int
    new: int
    updated: int
    unchanged: int
    skipped: int
    resume_offset: int | None = None  # JSON Lines: bytes read completely
    resume_lines: int | None = None  # JSON Lines: lines before resume_offset
    resume_check: str | None = None  # JSON Lines: checksum of the bytes before resume_offset
    corpus_check: str | None = None  # checksum of the whole file, taken before reading it


class PollOutcome(StrEnum):
    """How the last poll ended."""

    READ = "read"  # the corpus was read and the state and outputs brought up to date
    UNCHANGED = "unchanged"  # the corpus was known unchanged: nothing to read
    FAILED = "failed"  # it ended with an error; the state is as before it


@dataclass(frozen=True, slots=True)
class PollAttempt:
    """The last poll, whatever its outcome: what /metrics and /healthz report."""

    at: datetime  # when it ended
    outcome: PollOutcome
    seconds: float  # how long it took, waiting for the lock included
    error: str | None = None  # the one-line error of a failed poll

    def as_dict(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "outcome": self.outcome.value,
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> PollAttempt:
        return cls(
            at=datetime.fromisoformat(str(data["at"])),
            outcome=PollOutcome(str(data["outcome"])),
            seconds=float(str(data["seconds"])),
            error=None if data.get("error") is None else str(data["error"]),
        )


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did. `read` is False when the corpus file was known unchanged unread."""

    read: bool
    new: int = 0
    updated: int = 0
    unchanged: int = 0  # records whose content was already stored as is
    skipped: int = 0
    reclassified: int = 0  # stored articles re-tagged because the taxonomy changed
    resumed: bool = False  # JSON Lines: only what was appended since the last poll was read
    written: tuple[Path, ...] = ()  # output files rewritten

    def summary(self) -> str:
        if not self.read:
            return "unchanged"
        return (
            f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.skipped} skipped"
        )


# -- Newsletter ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One newsletter address and what it chose."""

    email: str  # normalised address; unique regardless of case
    name: str  # display name for the To header, may be empty
    status: SubscriberStatus
    tags: tuple[str, ...] | None  # chosen tag ids in taxonomy order; None: everything, 其他 too
    since: datetime  # when the status last changed
    ref: str = field(default="", repr=False)  # the random id signed links name; never shown

    @property
    def active(self) -> bool:
        return self.status is SubscriberStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class IssueRecord:
    """One week's issue as recorded: its status, its frozen message and its ledger counts."""

    key: str  # ISO week, "2026-W05"
    status: IssueStatus
    frozen_at: datetime  # when its content was fixed, or the week was skipped
    finished_at: datetime | None  # when the last send run over it ended
    articles: int  # articles of its own week
    late: int  # earlier weeks' articles carried in its section for late arrivals
    subject: str  # the frozen message; empty for a skipped week
    html: str
    text: str
    recipients: int  # ledger rows
    sent: int  # rows the server accepted
    failed: int  # rows refused for good
    in_doubt: int  # rows left in 'sending' by an interrupted run
    send_seconds: float = 0.0  # how long its send runs took, all together


@dataclass(frozen=True, slots=True)
class Delivery:
    """One ledger row: one issue to one recipient."""

    issue: str  # the issue's week key
    email: str  # the recipient
    name: str  # the recipient's display name now ('' if none)
    subscribed: bool  # still subscribed now
    edition: str  # which rendering of the issue they get (see newsletter.editions)
    ref: str  # the id their personal links name ('' once they are erased)
    status: DeliveryStatus
    attempts: int  # send runs that claimed it
    updated_at: datetime  # its last transition
    detail: str | None  # the last error or refusal
    seq: int = 0  # the row's place in the ledger's order: a run claims forwards from it
